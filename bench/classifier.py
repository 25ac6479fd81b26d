"""The peak classifier against its targets (docs/design.md, "Performance targets": training
< 60 s, model < 20 MB, inference < 100 ms per peak single-threaded).

    python bench/classifier.py [--households 40] [--days 4]

Trains the production configuration into a temporary folder (as `train_peak_classifier` does:
simulation, detection, validation, final fit), then classifies every training peak one at a
time, single-threaded: the feature extraction from the peak's readings and the prediction are
timed separately. The ceiling measured in the same run is the bare feature extraction (what any
model needs before predicting); the ratios are per-peak total / ceiling and each figure / its
target. Prints a table and writes bench/results/classifier-<time>.json. No database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from analytics.compute.classifier.artefact import MODEL_FILE, artefact_load  # noqa: E402
from analytics.compute.classifier.features import (  # noqa: E402
    context_from_readings,
    intervals_from_readings,
    peak_features,
)
from analytics.compute.classifier.peaks import history_peaks  # noqa: E402
from analytics.compute.classifier.pipeline import classifier_build  # noqa: E402
from analytics.compute.classifier.training import (  # noqa: E402
    FIRST_DAY,
    TrainingConfig,
    training_household_config,
)
from analytics.compute.detection import instant_ns  # noqa: E402
from bench import common  # noqa: E402
from simulation.households import simulate_household  # noqa: E402

TARGET_TRAIN_S = 60.0
TARGET_MODEL_MB = 20.0
TARGET_PEAK_MS = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = TrainingConfig()
    parser.add_argument("--households", type=int, default=defaults.households)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--peaks", type=int, default=300, help="peaks timed one by one")
    args = parser.parse_args()
    config = replace(defaults, households=args.households, days=args.days)

    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        result = classifier_build(Path(folder), config)
        train_s = time.perf_counter() - began
        model_mb = (result.folder / MODEL_FILE).stat().st_size / 1e6
        model = artefact_load(Path(folder))

        # Fresh households (other seeds than training) give the peaks to time.
        feature_ms: list[float] = []
        predict_ms: list[float] = []
        seed = config.seed + 10_000
        household_config = training_household_config(config)
        with threadpool_limits(limits=1):
            while len(feature_ms) < args.peaks:
                household = simulate_household(FIRST_DAY, 2, seed, household_config)
                seed += 1
                evaluate_from = household.start + timedelta(days=1)
                t, kwh = household.timestamps_ns, household.consumption_kwh
                for peak in history_peaks(t, kwh, evaluate_from=evaluate_from):
                    a = time.perf_counter()
                    series = intervals_from_readings(
                        t, kwh, start_ns=instant_ns(peak.start), end_ns=instant_ns(peak.end)
                    )
                    if series.power_w.size == 0:
                        continue
                    context = context_from_readings(t, kwh, start_ns=instant_ns(peak.start))
                    features = peak_features(series, context)
                    b = time.perf_counter()
                    model.classifier.predict_proba(features[None, :])
                    c = time.perf_counter()
                    feature_ms.append((b - a) * 1000)
                    predict_ms.append((c - b) * 1000)
                    if len(feature_ms) >= args.peaks:
                        break

    total = np.array(feature_ms) + np.array(predict_ms)
    p50, p99 = float(np.percentile(total, 50)), float(np.percentile(total, 99))
    ceiling = float(np.percentile(feature_ms, 50))
    report = result.report
    data: dict[str, Any] = {
        "machine": common.machine_description(),
        "revision": common.git_revision(),
        "version": result.version,
        "households": config.households,
        "days": config.days,
        "training_peaks": report["peaks"],
        "train_seconds": round(train_s, 2),
        "train_split_seconds": report["seconds"],
        "model_mb": round(model_mb, 3),
        "timed_peaks": len(total),
        "per_peak_ms": {"p50": round(p50, 3), "p99": round(p99, 3)},
        "features_ms_p50": round(ceiling, 3),
        "predict_ms_p50": round(float(np.percentile(predict_ms, 50)), 3),
        "ratio_total_to_features": round(p50 / ceiling, 2) if ceiling else None,
        "macro_f1_unseen_devices": report["unseen_devices"]["macro_f1"],
        "macro_f1_unseen_devices_uncalibrated": report["unseen_devices"]["uncalibrated_macro_f1"],
        "targets": {
            "train_s": TARGET_TRAIN_S,
            "model_mb": TARGET_MODEL_MB,
            "peak_ms": TARGET_PEAK_MS,
        },
    }
    common.print_table(
        ["figure", "measured", "target", "measured/target"],
        [
            ["training (s)", f"{train_s:.1f}", TARGET_TRAIN_S, f"{train_s / TARGET_TRAIN_S:.2f}"],
            ["model (MB)", f"{model_mb:.2f}", TARGET_MODEL_MB, f"{model_mb / TARGET_MODEL_MB:.3f}"],
            ["per peak p50 (ms)", f"{p50:.2f}", TARGET_PEAK_MS, f"{p50 / TARGET_PEAK_MS:.3f}"],
            ["per peak p99 (ms)", f"{p99:.2f}", TARGET_PEAK_MS, f"{p99 / TARGET_PEAK_MS:.3f}"],
        ],
    )
    print(
        f"per peak: features {ceiling:.2f} ms (ceiling), predict "
        f"{data['predict_ms_p50']:.2f} ms; total/ceiling {data['ratio_total_to_features']}"
    )
    print(
        f"macro-F1 on unseen devices {data['macro_f1_unseen_devices']:.3f} (shown suggestions; "
        f"uncalibrated {data['macro_f1_unseen_devices_uncalibrated']:.3f})"
    )
    path = common.write_result("classifier", data)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
