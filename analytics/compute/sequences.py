"""Peak and anomaly detection on one sensor's power, one observation window at a time.

Input is the sensor's own readings: UTC instants and each reading's consumption in kWh since the
previous reading. Power in W is derived per interval between consecutive readings; an interval
longer than `max_reading_gap_s`, or with a missing or negative consumption, is missing data: it
has no power and no sequence spans it.

The threshold comes only from the reference period, the `reference_hours` before the window start
(never from the window itself): median m and MAD (* `mad_scale`) of the valid interval powers. An
interval exceeds when its power - m > max(k * MAD, floor), so only consumption above the median
counts. The floor is the larger of a fixed minimum excess in W and `resolution_factor` times the
power quantum of the meter register, so that a coarse register (1 Wh in 15 s is 240 W) does not
turn rounding noise into peaks.

Runs of exceeding intervals are found over the reference period and the window together, so a
sequence that began before the window is seen whole; a run ends once nothing exceeded for
`end_gap_s` and is kept when it lasts at least `min_duration_s`. Every sequence that ends at or
after the window start is returned; the persistence layer reconciles it with stored sequences,
using `should_merge`.

Differences from the old platform's detector are deliberate: see docs/design.md, difference 8;
the parameters are described in docs/analytics.md, "Peak and anomaly detection".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

SequenceKind = Literal["peak", "anomaly"]
DetectionStatus = Literal["ok", "insufficient_data"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000
# kWh over an interval in ns -> W: 1000 W/kW * 3600 s/h * 1e9 ns/s.
KWH_PER_NS_TO_W = 3.6e15
# Reading.consumption is stored with 6 decimals; rounding to them keeps float noise from the
# Decimal conversion from posing as a tiny register step.
_CONSUMPTION_DECIMALS = 6


@dataclass(frozen=True)
class DetectionConfig:
    """Every parameter of peak and anomaly detection. Powers in W, durations in seconds.

    Defaults and why:

    * `peak_k` 5: the documented intent of the reference (a peak is 5 scaled MADs above the
      median of the last 24 h).
    * `anomaly_k` 15 and `anomaly_min_excess_w` 3000 W: anomalies are mailed to the household,
      so they must be rarer and larger than peaks. The median and MAD of a day's power mostly
      describe the base load (appliances run far less than half of the time), so the MAD is small
      and the floor decides in most households: 3000 W above the median is more than any common
      single appliance (kettle, oven, washing-machine heater) draws, so it takes an unusual load
      such as several of them at once or a heater left on. k = 15 (three times the peak distance)
      raises the bar further for households whose power varies a lot. A single floor for both
      kinds would make every peak an anomaly whenever the floor decides. The reference's k = 5000
      (HEAD 1000) was scaled to a biased statistic of raw consumption and means nothing on W.
    * `mad_scale` 1.4826: makes the MAD estimate a standard deviation for normal noise.
    * `min_excess_w` 150 W: below this, excursions are background noise (fridge compressor,
      standby devices switching) rather than an appliance use worth showing.
    * `resolution_factor` 2: the floor is also at least two register steps, converted to W over
      the median reading interval; one step of rounding either way must never look like a peak.
    * `end_gap_s` 120, `min_duration_s` 120: a sequence ends when nothing exceeded for 2 minutes
      and must span at least 2 minutes (documented intent).
    * `max_reading_gap_s` 300: sensors send every 15-21 s (Pi clients also buffer); an interval
      longer than 5 minutes is missing data, not a measurement.
    * `merge_gap_s` 120, `merge_power_ratio` 0.5: a sequence continues the previous one when the
      gap is under 2 minutes and each average peak power is at least half the other's.
    * `anomaly_spacing_s` 1800: kept anomalies are at least 30 minutes apart.
    * `min_reference_coverage` 0.5: at least 12 h of the 24 h reference must have valid data
      (the reference demanded 2880 readings, 12 h at 15 s); otherwise nothing is detected.
    """

    peak_k: float = 5.0
    anomaly_k: float = 15.0
    mad_scale: float = 1.4826
    reference_hours: float = 24.0
    min_excess_w: float = 150.0
    anomaly_min_excess_w: float = 3000.0
    resolution_factor: float = 2.0
    end_gap_s: float = 120.0
    min_duration_s: float = 120.0
    max_reading_gap_s: float = 300.0
    merge_gap_s: float = 120.0
    merge_power_ratio: float = 0.5
    anomaly_spacing_s: float = 1800.0
    min_reference_coverage: float = 0.5

    def __post_init__(self) -> None:
        positive = {
            "peak_k": self.peak_k,
            "anomaly_k": self.anomaly_k,
            "mad_scale": self.mad_scale,
            "reference_hours": self.reference_hours,
            "end_gap_s": self.end_gap_s,
            "max_reading_gap_s": self.max_reading_gap_s,
        }
        non_negative = {
            "min_excess_w": self.min_excess_w,
            "anomaly_min_excess_w": self.anomaly_min_excess_w,
            "resolution_factor": self.resolution_factor,
            "min_duration_s": self.min_duration_s,
            "merge_gap_s": self.merge_gap_s,
            "anomaly_spacing_s": self.anomaly_spacing_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not 0 < self.merge_power_ratio <= 1:
            raise ValueError(f"merge_power_ratio must be in (0, 1], got {self.merge_power_ratio}")
        if not 0 <= self.min_reference_coverage <= 1:
            raise ValueError(
                f"min_reference_coverage must be in [0, 1], got {self.min_reference_coverage}"
            )


DEFAULT_CONFIG = DetectionConfig()


@dataclass(frozen=True)
class SequenceSummary:
    """What merging needs to know of a sequence: aware UTC bounds and average peak power (W)."""

    start: datetime
    end: datetime
    average_peak_power_w: float


@dataclass(frozen=True)
class DetectedSequence(SequenceSummary):
    """A detected peak or anomaly.

    `start` is the (aware UTC) time of the reading that opens the first exceeding interval, `end`
    that of the reading closing the last one. `average_power_w` is energy / duration (W),
    `average_peak_power_w` that minus the base load (W), `energy_kwh` the consumption in between.
    """

    kind: SequenceKind
    average_power_w: float
    energy_kwh: float


@dataclass(frozen=True)
class DetectionResult:
    """Outcome of one detection.

    `status` is "insufficient_data" when the reference period has too little valid data; then
    every figure is None and there are no sequences. `threshold_w` is the absolute power (W) an
    interval must exceed, `median_w` and `mad_w` (scaled) are the reference statistics (W),
    `base_load_w` the median power (W) of the reference and window outside all detected
    sequences. `sequences` are ordered by start and all end at or after the window start.
    """

    status: DetectionStatus
    threshold_w: float | None
    median_w: float | None
    mad_w: float | None
    base_load_w: float | None
    sequences: tuple[DetectedSequence, ...] = ()


def should_merge(
    previous: SequenceSummary, new: SequenceSummary, config: DetectionConfig = DEFAULT_CONFIG
) -> bool:
    """Whether `new` continues `previous` (same sensor and kind; times aware UTC, powers in W).

    Overlapping sequences are one event seen by two windows and always merge. Otherwise the gap
    must be under `merge_gap_s` and the average peak powers comparable: each at least
    `merge_power_ratio` times the other. A missing-data gap is longer than `max_reading_gap_s`, so
    with `merge_gap_s` at most that, no merge spans one.
    """
    gap_s = (new.start - previous.end).total_seconds()
    if gap_s <= 0:
        return True
    if gap_s >= config.merge_gap_s:
        return False
    ratio = config.merge_power_ratio
    old_w, new_w = previous.average_peak_power_w, new.average_peak_power_w
    return new_w >= ratio * old_w and old_w >= ratio * new_w


class Detector(Protocol):
    """Signature shared by the detectors in `DETECTORS`."""

    def __call__(
        self,
        timestamps: npt.ArrayLike,
        consumption_kwh: npt.ArrayLike,
        *,
        window_start: datetime,
        window_end: datetime,
        config: DetectionConfig = ...,
        previous: SequenceSummary | None = ...,
    ) -> DetectionResult: ...


def detect_peaks(
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    *,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig = DEFAULT_CONFIG,
    previous: SequenceSummary | None = None,
) -> DetectionResult:
    """Peaks (k = `peak_k`, floor `min_excess_w`); see `detect`. `previous` is not used."""
    return _detect(
        "peak",
        config.peak_k,
        config.min_excess_w,
        timestamps,
        consumption_kwh,
        window_start,
        window_end,
        config,
        None,
    )


def detect_anomalies(
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    *,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig = DEFAULT_CONFIG,
    previous: SequenceSummary | None = None,
) -> DetectionResult:
    """Anomalies (k = `anomaly_k`, floor `anomaly_min_excess_w`), spaced; see `detect`.

    An anomaly is kept only when it starts at least `anomaly_spacing_s` after the end of the
    previously kept one, starting from `previous` (the latest stored anomaly). An anomaly that
    `should_merge` with `previous` is its continuation and is kept for the persistence layer to
    merge.
    """
    return _detect(
        "anomaly",
        config.anomaly_k,
        config.anomaly_min_excess_w,
        timestamps,
        consumption_kwh,
        window_start,
        window_end,
        config,
        previous,
    )


DETECTORS: dict[str, Detector] = {"peak": detect_peaks, "anomaly": detect_anomalies}


def detect_peaks_own_reference(
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    *,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig = DEFAULT_CONFIG,
) -> DetectionResult:
    """Peaks in [window_start, window_end] with the window's own readings as the reference period,
    for a history shorter than `reference_hours` (docs/classifier.md, "Commands and artefact": one
    household-day given on its own). The coverage rule applies to the window instead of the 24 h
    before it; everything else is as in `detect`."""
    return _detect(
        "peak",
        config.peak_k,
        config.min_excess_w,
        timestamps,
        consumption_kwh,
        window_start,
        window_end,
        config,
        None,
        own_reference=True,
    )


def detect(
    kind: SequenceKind,
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    *,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig = DEFAULT_CONFIG,
    previous: SequenceSummary | None = None,
) -> DetectionResult:
    """Detect sequences of `kind` that end in the window [window_start, window_end].

    `timestamps`: one sensor's reading instants, numpy datetime64 (any unit, UTC) or int64 ns
    since the epoch (UTC); for a tz-aware pandas index pass `index.as_unit("ns").asi8`. Order and
    duplicates do not matter. `consumption_kwh`: float consumption (kWh) of each reading since the
    previous one; NaN means unknown. Pass the readings from `window_start - reference_hours` to
    `window_end`; others are ignored, and the first reading's consumption is not used because its
    interval starts outside. `window_start`/`window_end` must be timezone-aware; results are
    aware UTC. `previous`: the latest stored sequence of this kind, for the anomaly spacing rule.
    """
    try:
        detector = DETECTORS[kind]
    except KeyError:
        raise ValueError(f"unknown sequence kind {kind!r}") from None
    return detector(
        timestamps,
        consumption_kwh,
        window_start=window_start,
        window_end=window_end,
        config=config,
        previous=previous,
    )


@dataclass(frozen=True)
class _Reference:
    """Everything of one detection that does not depend on the kind: the intervals with their
    power and validity, and the reference period's median, MAD and register quantum."""

    window_start_ns: int
    start_ns: npt.NDArray[np.int64]
    end_ns: npt.NDArray[np.int64]
    energy: npt.NDArray[np.float64]
    power: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_]
    median_w: float
    mad_w: float
    quantum_w: float


def _reference(
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig,
    *,
    own_reference: bool = False,
) -> _Reference | None:
    """The kind-independent part of a detection; None when the reference has too little data."""
    window_start_ns = _to_ns(window_start)
    window_end_ns = _to_ns(window_end)
    if window_end_ns <= window_start_ns:
        raise ValueError("window_end must be after window_start")
    if own_reference:
        reference_start_ns, reference_end_ns = window_start_ns, window_end_ns
    else:
        reference_start_ns = window_start_ns - round(config.reference_hours * 3600 * _NS_PER_S)
        reference_end_ns = window_start_ns
    t, consumption = _prepare(timestamps, consumption_kwh, reference_start_ns, window_end_ns)
    if t.size < 2:
        return None

    # Interval i runs from reading i to reading i + 1 and carries reading i + 1's consumption.
    start_ns, end_ns = t[:-1], t[1:]
    duration_ns = end_ns - start_ns
    energy = consumption[1:]
    valid = (
        (duration_ns > 0)
        & (duration_ns <= round(config.max_reading_gap_s * _NS_PER_S))
        & np.isfinite(energy)
        & (energy >= 0)
    )
    energy = np.where(valid, energy, 0.0)
    power = np.zeros(energy.shape, dtype=np.float64)
    np.divide(energy * KWH_PER_NS_TO_W, duration_ns, out=power, where=valid)

    in_reference = valid & (start_ns >= reference_start_ns) & (end_ns <= reference_end_ns)
    covered_ns = int(duration_ns[in_reference].sum())
    reference_ns = reference_end_ns - reference_start_ns
    if covered_ns == 0 or covered_ns < config.min_reference_coverage * reference_ns:
        return None

    reference_power = power[in_reference]
    median_w = _median(reference_power)
    mad_w = config.mad_scale * _median(np.abs(reference_power - median_w))
    quantum_w = _register_quantum_w(energy[in_reference], duration_ns[in_reference])
    return _Reference(
        window_start_ns, start_ns, end_ns, energy, power, valid, median_w, mad_w, quantum_w
    )


_INSUFFICIENT = DetectionResult("insufficient_data", None, None, None, None)
_LEVELS: dict[SequenceKind, tuple[str, str]] = {
    "peak": ("peak_k", "min_excess_w"),
    "anomaly": ("anomaly_k", "anomaly_min_excess_w"),
}


def detect_kinds(
    kinds: Sequence[SequenceKind],
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    *,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig = DEFAULT_CONFIG,
) -> dict[SequenceKind, DetectionResult]:
    """`detect` of each kind (without `previous`) on the same readings, sharing the work that
    does not depend on the kind (intervals, power, reference statistics): the same results as
    one `detect` call per kind."""
    reference = _reference(timestamps, consumption_kwh, window_start, window_end, config)
    results: dict[SequenceKind, DetectionResult] = {}
    for kind in kinds:
        if kind not in _LEVELS:
            raise ValueError(f"unknown sequence kind {kind!r}")
        if reference is None:
            results[kind] = _INSUFFICIENT
            continue
        k_name, floor_name = _LEVELS[kind]
        results[kind] = _sequences(
            kind, getattr(config, k_name), getattr(config, floor_name), reference, config, None
        )
    return results


def _detect(
    kind: SequenceKind,
    k: float,
    min_excess_w: float,
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    window_start: datetime,
    window_end: datetime,
    config: DetectionConfig,
    previous: SequenceSummary | None,
    *,
    own_reference: bool = False,
) -> DetectionResult:
    reference = _reference(
        timestamps, consumption_kwh, window_start, window_end, config, own_reference=own_reference
    )
    if reference is None:
        return _INSUFFICIENT
    return _sequences(kind, k, min_excess_w, reference, config, previous)


def _sequences(
    kind: SequenceKind,
    k: float,
    min_excess_w: float,
    reference: _Reference,
    config: DetectionConfig,
    previous: SequenceSummary | None,
) -> DetectionResult:
    start_ns, end_ns = reference.start_ns, reference.end_ns
    energy, power, valid = reference.energy, reference.power, reference.valid
    median_w, mad_w = reference.median_w, reference.mad_w
    excess_w = max(k * mad_w, min_excess_w, config.resolution_factor * reference.quantum_w)
    threshold_w = median_w + excess_w
    exceeds = valid & (power > threshold_w)

    invalid_count = np.cumsum(~valid, dtype=np.int64)
    first, last = _runs(exceeds, start_ns, end_ns, invalid_count, config)
    keep = end_ns[last] - start_ns[first] >= round(config.min_duration_s * _NS_PER_S)
    first, last = first[keep], last[keep]

    in_sequence = np.zeros(energy.size + 1, dtype=np.int64)
    np.add.at(in_sequence, first, 1)
    np.add.at(in_sequence, last + 1, -1)
    outside = valid & (np.cumsum(in_sequence[:-1]) == 0)
    base_load_w = _median(power[outside]) if outside.any() else median_w

    energy_before = np.concatenate(([0.0], np.cumsum(energy)))
    first, last = _merge(
        first, last, start_ns, end_ns, energy_before, invalid_count, base_load_w, config
    )

    seq_start, seq_end = start_ns[first], end_ns[last]
    seq_energy = energy_before[last + 1] - energy_before[first]
    seq_power = seq_energy * KWH_PER_NS_TO_W / (seq_end - seq_start)
    report = (seq_end >= reference.window_start_ns) & (seq_power - base_load_w > 0)
    sequences = [
        DetectedSequence(
            start=_from_ns(int(s)),
            end=_from_ns(int(e)),
            average_peak_power_w=float(p) - base_load_w,
            kind=kind,
            average_power_w=float(p),
            energy_kwh=float(kwh),
        )
        for s, e, p, kwh in zip(
            seq_start[report], seq_end[report], seq_power[report], seq_energy[report], strict=True
        )
    ]
    if kind == "anomaly":
        sequences = _space(sequences, previous, config)
    return DetectionResult(
        "ok", threshold_w, median_w, mad_w, base_load_w, sequences=tuple(sequences)
    )


def _prepare(
    timestamps: npt.ArrayLike,
    consumption_kwh: npt.ArrayLike,
    start_ns: int,
    end_ns: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Readings in [start_ns, end_ns], ascending, one per instant (the first of duplicates)."""
    t = _as_ns(timestamps)
    consumption = np.asarray(consumption_kwh, dtype=np.float64)
    if t.ndim != 1 or t.shape != consumption.shape:
        raise ValueError("timestamps and consumption_kwh must be 1-d arrays of equal length")
    if t.size > 1 and not bool(np.all(t[1:] > t[:-1])):
        order = np.argsort(t, kind="stable")
        t, consumption = t[order], consumption[order]
        first_of_instant = np.concatenate(([True], t[1:] != t[:-1]))
        t, consumption = t[first_of_instant], consumption[first_of_instant]
    lo = int(np.searchsorted(t, start_ns, side="left"))
    hi = int(np.searchsorted(t, end_ns, side="right"))
    return t[lo:hi], consumption[lo:hi]


def _register_quantum_w(
    energy_kwh: npt.NDArray[np.float64], duration_ns: npt.NDArray[np.int64]
) -> float:
    """Power (W) of one register step over the median reading interval.

    The step is the greatest common divisor of the consumptions in units of the storage
    precision: 1 Wh for a register without decimals, a tiny step for a fine register, which
    leaves the fixed floor in charge.
    """
    units = np.rint(energy_kwh * 10**_CONSUMPTION_DECIMALS).astype(np.int64)
    step_kwh = int(np.gcd.reduce(units)) / 10**_CONSUMPTION_DECIMALS
    return float(step_kwh * KWH_PER_NS_TO_W / _median(duration_ns))


def _median(values: npt.NDArray[np.float64] | npt.NDArray[np.int64]) -> float:
    """Median of a non-empty array; a partition is several times faster than `np.median`."""
    half = values.size // 2
    if values.size % 2:
        return float(np.partition(values, half)[half])
    lower, upper = np.partition(values, (half - 1, half))[half - 1 : half + 1]
    return (float(lower) + float(upper)) / 2


def _runs(
    exceeds: npt.NDArray[np.bool_],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    invalid_count: npt.NDArray[np.int64],
    config: DetectionConfig,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last interval index of each run of exceeding intervals.

    Consecutive exceedances belong to one run when the time between them is under `end_gap_s`
    and no missing-data interval lies between them.
    """
    hits = np.flatnonzero(exceeds)
    if hits.size == 0:
        return hits, hits
    gap_ns = start_ns[hits[1:]] - end_ns[hits[:-1]]
    missing_between = invalid_count[hits[1:]] != invalid_count[hits[:-1]]
    breaks = (gap_ns >= round(config.end_gap_s * _NS_PER_S)) | missing_between
    first = hits[np.concatenate(([True], breaks))]
    last = hits[np.concatenate((breaks, [True]))]
    return first, last


def _merge(
    first: npt.NDArray[np.intp],
    last: npt.NDArray[np.intp],
    start_ns: npt.NDArray[np.int64],
    end_ns: npt.NDArray[np.int64],
    energy_before: npt.NDArray[np.float64],
    invalid_count: npt.NDArray[np.int64],
    base_load_w: float,
    config: DetectionConfig,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Merge consecutive sequences that `should_merge` and have no missing data between them.

    With `merge_gap_s` ≤ `end_gap_s` (the defaults) such pairs are already one run, so the loop
    only runs when the configuration makes merging reach further than run ending.
    """
    if first.size < 2:
        return first, last
    candidate = (start_ns[first[1:]] - end_ns[last[:-1]] < config.merge_gap_s * _NS_PER_S) & (
        invalid_count[first[1:]] == invalid_count[last[:-1]]
    )
    if not candidate.any():
        return first, last

    def summary(i: int, j: int) -> SequenceSummary:
        energy_kwh = energy_before[j + 1] - energy_before[i]
        power_w = energy_kwh * KWH_PER_NS_TO_W / (end_ns[j] - start_ns[i])
        return SequenceSummary(
            _from_ns(int(start_ns[i])), _from_ns(int(end_ns[j])), float(power_w) - base_load_w
        )

    merged_first, merged_last = [int(first[0])], [int(last[0])]
    for n in range(1, first.size):
        i, j = int(first[n]), int(last[n])
        if candidate[n - 1] and should_merge(
            summary(merged_first[-1], merged_last[-1]), summary(i, j), config
        ):
            merged_last[-1] = j
        else:
            merged_first.append(i)
            merged_last.append(j)
    return np.asarray(merged_first, dtype=np.intp), np.asarray(merged_last, dtype=np.intp)


def _space(
    anomalies: list[DetectedSequence],
    previous: SequenceSummary | None,
    config: DetectionConfig,
) -> list[DetectedSequence]:
    """Keep anomalies that start `anomaly_spacing_s` after the previously kept one ends."""
    spacing = timedelta(seconds=config.anomaly_spacing_s)
    kept: list[DetectedSequence] = []
    last_end = previous.end if previous is not None else None
    for anomaly in anomalies:
        continues = previous is not None and should_merge(previous, anomaly, config)
        if continues or last_end is None or anomaly.start - last_end >= spacing:
            kept.append(anomaly)
            last_end = anomaly.end if last_end is None else max(last_end, anomaly.end)
    return kept


def _as_ns(timestamps: npt.ArrayLike) -> npt.NDArray[np.int64]:
    array = np.asarray(timestamps)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind == "M":
        return array.astype("datetime64[ns]").view(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    raise TypeError("timestamps must be numpy datetime64 (UTC) or int64 ns since the epoch (UTC)")


def _to_ns(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("window bounds must be timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1_000


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1_000)
