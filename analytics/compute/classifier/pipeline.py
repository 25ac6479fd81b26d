"""Train, validate and save the peak classifier in one call; classify a reading history.

`classifier_build` is what `manage.py train_peak_classifier` runs; `history_classify` is what
`manage.py classify_readings` and the evaluation use. Pure: no Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn

from analytics.compute.classifier.artefact import (
    LoadedModel,
    artefact_save,
    probabilities,
)
from analytics.compute.classifier.features import (
    context_from_readings,
    intervals_from_readings,
    peak_features,
)
from analytics.compute.classifier.peaks import history_peaks
from analytics.compute.classifier.training import (
    PeakClassifier,
    TrainingConfig,
    classified_categories,
    classifier_train,
    dataset_restrict,
    peak_dataset_build,
)
from analytics.compute.detection import instant_ns
from analytics.compute.sequences import DEFAULT_CONFIG, DetectionConfig
from simulation.appliances import ANTGEN_VERSION, CATEGORY_BY_ANTGEN_TYPE

VALIDATION_FILE = "validation.txt"
# A category's suggestions are judged (right at least half the time?) from this many on.
PROMISE_MIN_SHOWN = 15


@dataclass(frozen=True)
class BuildResult:
    version: str
    folder: Path
    report: dict[str, Any]
    seconds: float


def _format_metric(value: object) -> str:
    return "  n/a" if value is None else f"{float(value):5.2f}"  # type: ignore[arg-type]


def _broken_promises(part: dict[str, Any]) -> str:
    """The classified categories with at least PROMISE_MIN_SHOWN suggestions of which fewer
    than half were right, as "kettle 22 of 52, ..." ("none" without)."""
    broken = [
        f"{category} {m['tp']} of {m['tp'] + m['fp']}"
        for category, m in part["per_category"].items()
        if m["classified"] and m["tp"] + m["fp"] >= PROMISE_MIN_SHOWN and m["tp"] < m["fp"]
    ]
    return ", ".join(broken) or "none"


def _unseen_table(part: dict[str, Any]) -> list[str]:
    lines = [
        "Unseen devices (the estimate for a new household's appliances): whole pipeline on "
        f"{part['tested_peaks']} peaks of simulated household-days whose devices are scaled "
        "away from every training device and run held-out programmes; calibrated "
        "probabilities, shown at >= 0.5",
        f"  {'category':26} {'class':>5} {'support':>7} {'prec':>5} {'recall':>6} {'F1':>5}",
    ]
    for category, m in part["per_category"].items():
        mark = "" if m["in_macro"] else " (too few peaks, not in macro)"
        lines.append(
            f"  {category:26} {'yes' if m['classified'] else 'no':>5} {m['support']:7d} "
            f"{_format_metric(m['precision'])} {_format_metric(m['recall']):>6} "
            f"{_format_metric(m['f1'])}{mark}"
        )
    lines.append(
        f"  macro-F1 over {len(part['macro_f1_categories'])} categories: "
        f"{_format_metric(part['macro_f1']).strip()} (uncalibrated "
        f"{_format_metric(part['uncalibrated_macro_f1']).strip()}); no suggestion for "
        f"{part['peaks_abstained']} of {part['tested_peaks']} peaks"
    )
    lines.append(
        f"  suggestions right less than half the time (of at least {PROMISE_MIN_SHOWN}): "
        f"{_broken_promises(part)}"
    )
    alone = part.get("without_context")
    if alone is not None:
        lines.append(
            "  the same peaks without their context (as /api/v1/ml sees them): macro-F1 "
            f"{_format_metric(alone['macro_f1']).strip()} (uncalibrated "
            f"{_format_metric(alone['uncalibrated_macro_f1']).strip()}); suggestions right less "
            f"than half the time: {_broken_promises(alone)}"
        )
    lines.append("  per fold (devices of one third of the power and cycle-length ranges):")
    lines.extend(
        f"  fold {fold['fold']}: positions {fold['device_positions'][0]:.2f}-"
        f"{fold['device_positions'][1]:.2f}, {fold['tested_devices']} the training devices' "
        f"span, {fold['test']} peaks: macro-F1 {_format_metric(fold['macro_f1']).strip()} "
        f"(uncalibrated {_format_metric(fold['uncalibrated_macro_f1']).strip()})"
        for fold in part.get("folds", [])
    )
    lines.append("  reliability (peak x category pairs per calibrated probability band):")
    lines.append(f"  {'band':11} {'pairs':>7} {'mean p':>7} {'right':>6}")
    lines.extend(
        f"  {band['low']:.2f}-{band['high']:.2f}  {band['count']:7d} "
        f"{_format_metric(band['mean_probability']):>7} "
        f"{_format_metric(band['share_right']):>6}"
        for band in part["reliability"]
    )
    lines.append("")
    return lines


def validation_table(report: dict[str, Any]) -> str:
    """The validation report as a plain-text table (printed and saved with the model)."""
    lines = _unseen_table(report["unseen_devices"]) if "unseen_devices" in report else []
    for key, title in (
        (
            "held_out_programmes",
            "Held-out programmes (antgen models never seen; raw probabilities)",
        ),
        ("held_out_households", "Held-out households (devices seen: optimistic, for comparison)"),
    ):
        part = report.get(key)
        if part is None:
            continue
        lines.append(f"{title}: {part['tested_peaks']} test peaks")
        lines.append(
            f"  {'category':16} {'held out':>8} {'support':>7} {'prec':>5} {'recall':>6} {'F1':>5}"
        )
        for category, m in part["per_category"].items():
            held = "yes" if m["held_out"] else "no"
            lines.append(
                f"  {category:16} {held:>8} {m['support']:7d} {_format_metric(m['precision'])} "
                f"{_format_metric(m['recall']):>6} {_format_metric(m['f1'])}"
            )
        macro = part["macro_f1"]
        lines.append(
            f"  macro-F1 over {len(part['macro_f1_categories'])} categories: "
            f"{_format_metric(macro).strip()}"
        )
        lines.append("")
    return "\n".join(lines)


def classifier_build(
    folder: Path,
    config: TrainingConfig | None = None,
    *,
    detection: DetectionConfig = DEFAULT_CONFIG,
    compare: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Simulate, validate, fit on everything, save under `folder` and make it current. With
    `compare` the report also has the held-out-programme and held-out-household figures."""
    config = config or TrainingConfig()
    began = time.perf_counter()
    candidates = sorted(set(CATEGORY_BY_ANTGEN_TYPE.values()))
    dataset = peak_dataset_build(config, categories=candidates, progress=progress)
    categories = classified_categories(dataset, config)
    if not categories:
        raise ValueError("no category has enough peaks to train on; simulate more households")
    dataset = dataset_restrict(dataset, categories)
    simulated = time.perf_counter()
    from threadpoolctl import threadpool_limits

    # One thread per fit: on a shared 2-core machine OpenMP's threads mostly wait for each
    # other (a fit took 6x longer with them under load); the result is the same either way.
    with threadpool_limits(limits=1):
        classifier, report = classifier_train(
            dataset, config, candidates=candidates, compare=compare, progress=progress
        )
    trained = time.perf_counter()
    report["seconds"] = {
        "simulation_and_detection": round(simulated - began, 2),
        "validation_and_fit": round(trained - simulated, 2),
        "total": round(trained - began, 2),
    }
    report["latency_ms_per_peak"] = _latency_ms(classifier, dataset.features)
    sidecar = {
        "created_at": datetime.now(UTC).isoformat(),
        "versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "antgen": ANTGEN_VERSION,
        },
        "seeds": {"simulation": config.seed, "estimators": config.seed},
        "training": config.to_json(),
        "detector": asdict(detection),
        "metrics": report,
    }
    version = artefact_save(folder, classifier, sidecar, version_prefix="pc3-")
    (folder / version / VALIDATION_FILE).write_text(validation_table(report), encoding="utf-8")
    return BuildResult(version, folder / version, report, time.perf_counter() - began)


def _latency_ms(classifier: PeakClassifier, features: npt.NDArray[np.float64]) -> float:
    """Median single-threaded time (ms) to classify one peak, over up to 50 peaks."""
    from threadpoolctl import threadpool_limits

    samples = []
    with threadpool_limits(limits=1):
        for row in features[:50]:
            began = time.perf_counter()
            classifier.predict_proba(row[None, :])
            samples.append((time.perf_counter() - began) * 1000)
    return round(float(np.median(samples)), 3) if samples else 0.0


@dataclass(frozen=True)
class ClassifiedPeak:
    start: datetime
    end: datetime
    probs: dict[str, float]


def history_classify(
    model: LoadedModel,
    timestamps_ns: npt.NDArray[np.int64],
    consumption_kwh: npt.NDArray[np.float64],
    *,
    detection: DetectionConfig = DEFAULT_CONFIG,
) -> list[ClassifiedPeak]:
    """Detect the peaks of one history and classify each (see `history_peaks`)."""
    peaks = history_peaks(timestamps_ns, consumption_kwh, config=detection)
    rows, kept = [], []
    for peak in peaks:
        series = intervals_from_readings(
            timestamps_ns,
            consumption_kwh,
            start_ns=instant_ns(peak.start),
            end_ns=instant_ns(peak.end),
            max_gap_s=detection.max_reading_gap_s,
        )
        if series.power_w.size:
            context = context_from_readings(
                timestamps_ns,
                consumption_kwh,
                start_ns=instant_ns(peak.start),
                max_gap_s=detection.max_reading_gap_s,
            )
            rows.append(peak_features(series, context))
            kept.append(peak)
    if not rows:
        return []
    probs = probabilities(model, np.vstack(rows))
    return [ClassifiedPeak(peak.start, peak.end, p) for peak, p in zip(kept, probs, strict=True)]
