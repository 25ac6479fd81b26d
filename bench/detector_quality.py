"""Quality of the production peak detector on simulated households with ground truth.

    python bench/detector_quality.py [--days 20] [--seed 0]

For each of `--days` household-days (household i has seed `--seed` + i), simulates two days
(simulation.households: antgen allowlisted models, 15-s register at 0.1 Wh with jitter
and lost pushes) and evaluates the second: `detect("peak", ...)` over each of its 48 30-minute
windows with the 24 h before as reference, exactly as the 30-minute task does. Sequences seen by
several windows are combined as the persistence layer does (`should_merge`).

Scoring against the ground-truth runs that start on the evaluated day:

* A run should be found when its own mean power (its power above everything else, i.e. above
  the base load, W) is at least the detector's excess floor of the window it starts in
  (threshold - median: max(k * MAD, 150 W, 2 register steps)) and it lasts at least
  `min_duration_s` (a shorter run can never form a sequence). Fridge and freezer cycles
  (~40-75 W) are below the floor and are reported separately, as are labelled runs below it.
* A run is found when some detected sequence overlaps it in time.
* Recall = found runs / runs that should be found, per category and overall.
* Precision = detected sequences overlapping any non-cycling load (labelled appliance or
  unlabelled load, including runs of the previous day) / all detected sequences. Sequences that
  only overlap fridge/freezer cycles or nothing count as false.

Also checks that re-running detection over the same windows gives identical results. Prints the
table and writes bench/results/detector_quality-<time>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics.compute.sequences import (  # noqa: E402
    DEFAULT_CONFIG,
    DetectedSequence,
    DetectionResult,
    detect,
    should_merge,
)
from bench import common  # noqa: E402
from simulation.appliances import ANTGEN_VERSION  # noqa: E402
from simulation.households import (  # noqa: E402
    CYCLING_CATEGORIES,
    Run,
    SimulatedHousehold,
    simulate_household,
)

FIRST_DAY = datetime(2024, 3, 4, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
WINDOWS_PER_DAY = 48
# Strict precision: only loads of at least this mean power (W) explain a sequence, so that a
# day-long 40 W amplifier or PC does not explain every false alarm that happens to overlap it.
STRICT_LOAD_W = 75.0


def detect_day(household: SimulatedHousehold, day: int) -> list[DetectionResult]:
    """Peak detection over the 48 windows of `day` (0-based) of the simulation."""
    results = []
    day_start = household.start + timedelta(days=day)
    for n in range(WINDOWS_PER_DAY):
        window_start = day_start + n * WINDOW
        results.append(
            detect(
                "peak",
                household.timestamps_ns,
                household.consumption_kwh,
                window_start=window_start,
                window_end=window_start + WINDOW,
            )
        )
    return results


def combine(results: list[DetectionResult]) -> list[DetectedSequence]:
    """Sequences of all windows, continuations merged into one (as the persistence layer does)."""
    stored: list[DetectedSequence] = []
    for result in results:
        for sequence in result.sequences:
            for i, old in enumerate(stored):
                earlier, later = sorted((old, sequence), key=lambda s: s.start)
                if should_merge(earlier, later):
                    start, end = min(old.start, sequence.start), max(old.end, sequence.end)
                    longest = sequence if sequence.end >= old.end else old
                    stored[i] = DetectedSequence(
                        start=start,
                        end=end,
                        average_peak_power_w=longest.average_peak_power_w,
                        kind="peak",
                        average_power_w=longest.average_power_w,
                        energy_kwh=longest.energy_kwh,
                    )
                    break
            else:
                stored.append(sequence)
    return sorted(stored, key=lambda s: s.start)


def overlaps(sequence: DetectedSequence, run: Run) -> bool:
    return sequence.start < run.end and run.start < sequence.end


def excess_floor_w(results: list[DetectionResult], day_start: datetime, moment: datetime) -> float:
    index = min(WINDOWS_PER_DAY - 1, max(0, int((moment - day_start) / WINDOW)))
    result = results[index]
    if result.threshold_w is None or result.median_w is None:
        return float("inf")
    return result.threshold_w - result.median_w


def evaluate(days: int, seed: int) -> dict[str, Any]:
    should: Counter[str] = Counter()
    found: Counter[str] = Counter()
    below_floor: Counter[str] = Counter()
    below_found: Counter[str] = Counter()
    too_short: Counter[str] = Counter()
    short_found: Counter[str] = Counter()
    cycling: Counter[str] = Counter()
    cycling_found: Counter[str] = Counter()
    unlabelled: Counter[str] = Counter()
    unlabelled_found: Counter[str] = Counter()
    sequences_total = sequences_true = sequences_cycling_only = sequences_strict = 0
    deterministic = True
    floors: list[float] = []
    detect_seconds = 0.0
    min_duration = timedelta(seconds=DEFAULT_CONFIG.min_duration_s)

    for i in range(days):
        household = simulate_household(FIRST_DAY, 2, seed + i)
        day_start = household.start + timedelta(days=1)
        began = time.perf_counter()
        results = detect_day(household, 1)
        detect_seconds += time.perf_counter() - began
        deterministic &= results == detect_day(household, 1)
        floors.extend(r.threshold_w - r.median_w for r in results if r.threshold_w and r.median_w)
        sequences = combine(results)

        for run in household.runs:
            if run.start < day_start:
                continue
            hit = any(overlaps(s, run) for s in sequences)
            key = run.category or run.source
            if run.category in CYCLING_CATEGORIES:
                cycling[key] += 1
                cycling_found[key] += hit
            elif run.category is None:
                unlabelled[key] += 1
                unlabelled_found[key] += hit
            elif run.end - run.start < min_duration:
                too_short[key] += 1
                short_found[key] += hit
            elif run.mean_power_w < excess_floor_w(results, day_start, run.start):
                below_floor[key] += 1
                below_found[key] += hit
            else:
                should[key] += 1
                found[key] += hit

        loads = [r for r in household.runs if r.category not in CYCLING_CATEGORIES]
        strong = [r for r in loads if r.mean_power_w >= STRICT_LOAD_W]
        cycles = [r for r in household.runs if r.category in CYCLING_CATEGORIES]
        for sequence in sequences:
            sequences_total += 1
            sequences_strict += any(overlaps(sequence, run) for run in strong)
            if any(overlaps(sequence, run) for run in loads):
                sequences_true += 1
            elif any(overlaps(sequence, run) for run in cycles):
                sequences_cycling_only += 1

    per_category = {
        key: {
            "should_be_found": should[key],
            "found": found[key],
            "recall": found[key] / should[key] if should[key] else None,
            "below_floor": below_floor[key],
            "below_floor_found": below_found[key],
            "shorter_than_min_duration": too_short[key],
            "shorter_found": short_found[key],
        }
        for key in sorted(set(should) | set(below_floor) | set(too_short))
    }
    total_should = sum(should.values())
    floors.sort()
    return {
        "days": days,
        "seed": seed,
        "antgen": ANTGEN_VERSION,
        "detector": {
            "peak_k": DEFAULT_CONFIG.peak_k,
            "min_excess_w": DEFAULT_CONFIG.min_excess_w,
            "min_duration_s": DEFAULT_CONFIG.min_duration_s,
            "end_gap_s": DEFAULT_CONFIG.end_gap_s,
        },
        "excess_floor_w": {
            "min": floors[0] if floors else None,
            "median": common.percentile(floors, 0.5) if floors else None,
            "max": floors[-1] if floors else None,
        },
        "per_category": per_category,
        "recall": sum(found.values()) / total_should if total_should else None,
        "runs_should_be_found": total_should,
        "runs_found": sum(found.values()),
        "sequences": sequences_total,
        "sequences_overlapping_a_load": sequences_true,
        "sequences_only_fridge_or_freezer": sequences_cycling_only,
        "precision": sequences_true / sequences_total if sequences_total else None,
        "precision_strict": sequences_strict / sequences_total if sequences_total else None,
        "strict_load_w": STRICT_LOAD_W,
        "cycling": {k: {"runs": cycling[k], "found": cycling_found[k]} for k in sorted(cycling)},
        "unlabelled": {
            k: {"runs": unlabelled[k], "found": unlabelled_found[k]} for k in sorted(unlabelled)
        },
        "deterministic": deterministic,
        "detect_seconds": detect_seconds,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    began = time.perf_counter()
    result = evaluate(args.days, args.seed)
    result["seconds"] = time.perf_counter() - began
    result["machine"] = common.machine_description()
    result["git"] = common.git_revision()
    rows = [
        (
            key,
            row["should_be_found"],
            row["found"],
            _fmt(row["recall"]),
            f"{row['below_floor_found']}/{row['below_floor']}",
            f"{row['shorter_found']}/{row['shorter_than_min_duration']}",
        )
        for key, row in result["per_category"].items()
    ]
    common.print_table(
        ("category", "should", "found", "recall", "below floor found", "too short found"), rows
    )
    for key, row in {**result["cycling"], **result["unlabelled"]}.items():
        print(f"{key}: {row['found']}/{row['runs']} overlapped by a detected sequence")
    print(
        f"recall {_fmt(result['recall'])} ({result['runs_found']}/{result['runs_should_be_found']})"
        f"  precision {_fmt(result['precision'])} ({result['sequences_overlapping_a_load']}/"
        f"{result['sequences']}; {result['sequences_only_fridge_or_freezer']} only fridge/freezer)"
        f"  strict precision {_fmt(result['precision_strict'])}"
    )
    print(f"excess floor W {result['excess_floor_w']}  deterministic {result['deterministic']}")
    common.log(f"wrote {common.write_result('detector_quality', result)}")


if __name__ == "__main__":
    main()
