"""Peaks of a whole reading history with the production detector, without a database.

Used by training (simulated households) and by `classify_readings` (meter data from a file), so
both see the peaks the 30-minute task would store:

* a history of at least `reference_hours` plus one window is cut into the production's aligned
  half-hour windows, each detected with the 24 h before it as reference, and sequences seen by
  several windows are combined as the persistence layer does (`should_merge`);
* a shorter history (one household-day on its own, docs/classifier.md, "Commands and
  artefact") is detected in one go with its own readings as the reference period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from analytics.compute.sequences import (
    DEFAULT_CONFIG,
    DetectedSequence,
    DetectionConfig,
    detect,
    detect_peaks_own_reference,
    should_merge,
)

WINDOW = timedelta(minutes=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1_000)


def combine_sequences(sequences: Iterable[DetectedSequence]) -> list[DetectedSequence]:
    """Sequences of consecutive windows with continuations merged into one, as the persistence
    layer stores them (the union of the spans; the figures of the longer-reaching one)."""
    stored: list[DetectedSequence] = []
    for sequence in sequences:
        for i, old in enumerate(stored):
            earlier, later = sorted((old, sequence), key=lambda s: s.start)
            if should_merge(earlier, later):
                longest = sequence if sequence.end >= old.end else old
                stored[i] = DetectedSequence(
                    start=min(old.start, sequence.start),
                    end=max(old.end, sequence.end),
                    average_peak_power_w=longest.average_peak_power_w,
                    kind=longest.kind,
                    average_power_w=longest.average_power_w,
                    energy_kwh=longest.energy_kwh,
                )
                break
        else:
            stored.append(sequence)
    return sorted(stored, key=lambda s: s.start)


def history_peaks(
    timestamps_ns: npt.NDArray[np.int64],
    consumption_kwh: npt.NDArray[np.float64],
    *,
    config: DetectionConfig = DEFAULT_CONFIG,
    evaluate_from: datetime | None = None,
) -> list[DetectedSequence]:
    """Every peak of one sensor's history (int64 ns UTC ascending, kWh per reading).

    With enough history, windows start at the first half-hour boundary at least
    `reference_hours` after the first reading, or at `evaluate_from` (aware) when later.
    """
    if timestamps_ns.size < 2:
        return []
    first_ns, last_ns = int(timestamps_ns[0]), int(timestamps_ns[-1])
    reference_ns = round(config.reference_hours * 3600 * 1e9)
    window_ns = int(WINDOW.total_seconds() * 1e9)
    if last_ns - first_ns < reference_ns + window_ns:
        result = detect_peaks_own_reference(
            timestamps_ns,
            consumption_kwh,
            window_start=_from_ns(first_ns),
            window_end=_from_ns(last_ns) + timedelta(microseconds=1),
            config=config,
        )
        return list(result.sequences)
    start_ns = -(-(first_ns + reference_ns) // window_ns) * window_ns
    if evaluate_from is not None:
        from_ns = int((evaluate_from - _EPOCH).total_seconds() * 1e6) * 1_000
        start_ns = max(start_ns, -(-from_ns // window_ns) * window_ns)
    found: list[DetectedSequence] = []
    window_start_ns = start_ns
    while window_start_ns < last_ns:
        window_start = _from_ns(window_start_ns)
        result = detect(
            "peak",
            timestamps_ns,
            consumption_kwh,
            window_start=window_start,
            window_end=window_start + WINDOW,
            config=config,
        )
        found.extend(result.sequences)
        window_start_ns += window_ns
    return combine_sequences(found)
