"""Features of one peak: its power series, and the household's power in the half hour before it.

A peak reaches the classifier as power samples: each sample is the mean power (W) over an
interval that ends at the sample's instant. From a meter the intervals are those between
consecutive readings inside the peak (`intervals_from_readings`); from `/api/v1/ml` they are the
request's (timestamp, power) pairs (`intervals_from_samples`).

From a meter the classifier also sees what came just before the peak (`PeakContext`,
`context_from_readings`): a washing machine's or dishwasher's heater phase follows its own
filling, pumping and tumbling at a few hundred watts, which the detector leaves out of the peak;
a kettle's or a toaster's follows nothing. `/api/v1/ml` sends the peak alone: its context
features are missing (NaN), which the model takes as such. Nothing else is used — not the time
of day, not the household — so training, serving and `classify_readings` compute exactly the
same numbers for the same peak of the same readings.

Every feature is scale-aware where that carries information (power levels in W, duration,
energy) and shape-aware otherwise (ratios, fractions of time, switching rate), so two devices of
one category with other power ratings still look alike.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.compute.sequences import KWH_PER_NS_TO_W

_NS_PER_S = 1_000_000_000
# Power bands (W) for the fractions of time spent in each.
_BANDS_W = (0.0, 300.0, 800.0, 1500.0, 2500.0, np.inf)
# Points of the normalised profile (the excess power at evenly spaced moments of the peak).
_PROFILE_POINTS = 8

FEATURE_NAMES: tuple[str, ...] = (
    "log_duration_s",
    "log_energy_wh",
    "mean_w",
    "median_w",
    "max_w",
    "min_w",
    "std_w",
    "p10_w",
    "p90_w",
    "cv",
    "max_over_mean",
    "min_over_max",
    "p10_over_p90",
    "time_above_80pct_max",
    "time_above_50pct_max",
    "steps_per_hour",
    "big_steps_per_hour",
    "mean_crossings_per_hour",
    "roughness",
    "first_third_over_mean",
    "middle_third_over_mean",
    "last_third_over_mean",
    "argmax_position",
    "longest_high_fraction",
    "band_0_300",
    "band_300_800",
    "band_800_1500",
    "band_1500_2500",
    "band_2500_up",
    "lag1_autocorrelation",
    # Scale-free shape: the same for a 2 kW and a 3 kW device of one kind. "Excess" is the power
    # above the peak's own minimum (the base load and any steady load) over its range.
    *(f"profile_{i}" for i in range(_PROFILE_POINTS)),
    "excess_mean",
    "excess_duty_50",
    "pulses_per_hour",
    "pulse_count",
    "pulse_length_cv",
    "pulse_gap_cv",
    "mean_pulse_fraction",
    "rise_fraction",
    "fall_fraction",
    "energy_first_2min",
    "energy_last_2min",
    "energy_first_tenth",
    "energy_last_tenth",
    "largest_step_up",
    "largest_step_down",
    "excess_std",
    "log_max_excess_w",
    "log_excess_energy_wh",
    # The half hour before the peak, against the floor of the hour before it (`PeakContext`):
    # NaN where that is unknown.
    "before_10min_lift",
    "before_10_30min_lift",
    "before_10min_share",
)
CONTEXT_FEATURE_NAMES = FEATURE_NAMES[-3:]
_CONTEXT_COLUMNS = [FEATURE_NAMES.index(name) for name in CONTEXT_FEATURE_NAMES]
# The context: the floor is the low (5 %) quantile of the intervals' power in the hour before
# the peak; the lifts are the mean power in the 10 minutes and in the 10-30 minutes before the
# peak above that floor.
CONTEXT_FLOOR_S = 3600
CONTEXT_NEAR_S = 600
CONTEXT_FAR_S = 1800
_CONTEXT_FLOOR_QUANTILE = 5.0


@dataclass(frozen=True)
class PowerSeries:
    """A peak's power: `duration_s` of each interval (s, > 0) and its mean `power_w` (W), in time
    order."""

    duration_s: npt.NDArray[np.float64]
    power_w: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.duration_s.shape != self.power_w.shape or self.duration_s.ndim != 1:
            raise ValueError("duration_s and power_w must be 1-d arrays of equal length")


def intervals_from_readings(
    timestamps_ns: npt.NDArray[np.int64],
    consumption_kwh: npt.NDArray[np.float64],
    *,
    start_ns: int,
    end_ns: int,
    max_gap_s: float = 300.0,
) -> PowerSeries:
    """The intervals between consecutive readings that lie within [start_ns, end_ns].

    `timestamps_ns` ascending (int64 ns, UTC), `consumption_kwh` each reading's consumption since
    the previous one. Intervals longer than `max_gap_s`, or with an unknown or negative
    consumption, are missing data and left out (as the detector does).
    """
    lo = int(np.searchsorted(timestamps_ns, start_ns, side="left"))
    hi = int(np.searchsorted(timestamps_ns, end_ns, side="right"))
    t = timestamps_ns[lo:hi]
    energy = consumption_kwh[lo:hi][1:]
    duration_ns = np.diff(t)
    valid = (
        (duration_ns > 0)
        & (duration_ns <= max_gap_s * _NS_PER_S)
        & np.isfinite(energy)
        & (energy >= 0)
    )
    duration_ns, energy = duration_ns[valid], energy[valid]
    power = energy * KWH_PER_NS_TO_W / duration_ns
    return PowerSeries(duration_ns / _NS_PER_S, power.astype(np.float64))


def intervals_from_samples(
    timestamps_ns: npt.NDArray[np.int64], power_w: npt.NDArray[np.float64]
) -> PowerSeries:
    """Samples (instant, mean power since the previous sample) as intervals.

    The first sample has no previous one: it gets the median spacing of the others (15 s when
    there is only one sample). Raises ValueError for instants that are not strictly increasing
    or powers that are negative or not finite.
    """
    if timestamps_ns.shape != power_w.shape or timestamps_ns.ndim != 1 or timestamps_ns.size == 0:
        raise ValueError("a peak needs at least one sample")
    if not bool(np.all(np.isfinite(power_w))) or bool(np.any(power_w < 0)):
        raise ValueError("power must be a finite number >= 0 (W)")
    spacing = np.diff(timestamps_ns)
    if spacing.size and not bool(np.all(spacing > 0)):
        raise ValueError("timestamps must be strictly increasing")
    first = float(np.median(spacing)) / _NS_PER_S if spacing.size else 15.0
    duration_s = np.concatenate(([first], spacing / _NS_PER_S)).astype(np.float64)
    return PowerSeries(duration_s, power_w.astype(np.float64))


def _weighted_quantile(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], q: float
) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])


def _third_means(power: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> list[float]:
    edges = np.cumsum(weights) / weights.sum()
    means = []
    for lo, hi in ((0.0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 1.0 + 1e-9)):
        part = (edges > lo) & (edges <= hi)
        if not part.any():
            part = np.zeros(power.size, dtype=bool)
            part[min(int(lo * power.size), power.size - 1)] = True
        means.append(float(np.average(power[part], weights=weights[part])))
    return means


def _longest_run(mask: npt.NDArray[np.bool_], weights: npt.NDArray[np.float64]) -> float:
    best = current = 0.0
    for inside, weight in zip(mask.tolist(), weights.tolist(), strict=True):
        current = current + weight if inside else 0.0
        best = max(best, current)
    return best


def _cv(values: npt.NDArray[np.float64]) -> float:
    if values.size < 2:
        return 0.0
    mean = float(values.mean())
    return float(values.std() / mean) if mean > 0 else 0.0


def _shape_features(
    power: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], duration: float
) -> list[float]:
    """The scale-free part of `FEATURE_NAMES` (from "profile_0" on)."""
    minimum, maximum = float(power.min()), float(power.max())
    span = maximum - minimum
    excess = power - minimum
    scaled = excess / span if span > 0 else np.zeros_like(power)
    ends = np.cumsum(weights)
    starts = ends - weights
    # Normalised profile: the interval covering each of the evenly spaced moments.
    moments = (np.arange(_PROFILE_POINTS) + 0.5) / _PROFILE_POINTS * duration
    index = np.minimum(np.searchsorted(ends, moments, side="right"), power.size - 1)
    profile = scaled[index].tolist()
    excess_energy = float(np.dot(excess, weights))
    on = scaled >= 0.5
    # Pulses: maximal stretches of intervals at or above half the range.
    changes = np.flatnonzero(np.diff(on.astype(np.int8)))
    bounds = np.concatenate(([0], changes + 1, [power.size]))
    pulse_lengths: list[float] = []
    gap_lengths: list[float] = []
    for lo, hi in itertools.pairwise(bounds.tolist()):
        length = float(weights[lo:hi].sum())
        (pulse_lengths if on[lo] else gap_lengths).append(length)
    if gap_lengths and not on[0]:
        gap_lengths = gap_lengths[1:]
    if gap_lengths and not on[-1]:
        gap_lengths = gap_lengths[:-1]
    pulses = np.asarray(pulse_lengths, dtype=np.float64)
    gaps = np.asarray(gap_lengths, dtype=np.float64)
    high = np.flatnonzero(scaled >= 0.8)
    rise = float(starts[high[0]]) / duration if high.size else 0.0
    fall = (duration - float(ends[high[-1]])) / duration if high.size else 0.0

    def share(mask: npt.NDArray[np.bool_]) -> float:
        return float(np.dot(excess[mask], weights[mask])) / excess_energy if excess_energy else 0.0

    diffs = np.diff(power) / span if span > 0 and power.size > 1 else np.zeros(1)
    return [
        *profile,
        float(np.dot(scaled, weights)) / duration,
        float(weights[on].sum()) / duration,
        pulses.size / (duration / 3600),
        float(pulses.size),
        _cv(pulses),
        _cv(gaps),
        float(pulses.mean()) / duration if pulses.size else 0.0,
        rise,
        fall,
        share(starts < 120.0),
        share(ends > duration - 120.0),
        share(starts < 0.1 * duration),
        share(ends > 0.9 * duration),
        max(float(diffs.max()), 0.0),
        max(float(-diffs.min()), 0.0),
        float(np.sqrt(np.average((scaled - scaled.mean()) ** 2, weights=weights))),
        float(np.log1p(span)),
        float(np.log1p(excess_energy / 3600)),
    ]


@dataclass(frozen=True)
class PeakContext:
    """The household's power before a peak (W, NaN where no reading tells): `floor_w` the low
    quantile of the hour before, `near_w` the mean of the last 10 minutes, `far_w` of the 10 to
    30 minutes before that."""

    floor_w: float
    near_w: float
    far_w: float

    @classmethod
    def unknown(cls) -> PeakContext:
        return cls(np.nan, np.nan, np.nan)


def _mean_power(series: PowerSeries) -> float:
    if series.power_w.size == 0:
        return float("nan")
    return float(np.average(series.power_w, weights=series.duration_s))


def context_from_readings(
    timestamps_ns: npt.NDArray[np.int64],
    consumption_kwh: npt.NDArray[np.float64],
    *,
    start_ns: int,
    max_gap_s: float = 300.0,
) -> PeakContext:
    """The context of a peak starting at `start_ns` from the readings before it (the arrays as
    for `intervals_from_readings`; readings from `start_ns` - CONTEXT_FLOOR_S on are used)."""

    def window(seconds_before: int, until_s_before: int = 0) -> PowerSeries:
        return intervals_from_readings(
            timestamps_ns,
            consumption_kwh,
            start_ns=start_ns - seconds_before * _NS_PER_S,
            end_ns=start_ns - until_s_before * _NS_PER_S,
            max_gap_s=max_gap_s,
        )

    hour = window(CONTEXT_FLOOR_S)
    floor = (
        float(np.percentile(hour.power_w, _CONTEXT_FLOOR_QUANTILE))
        if hour.power_w.size
        else float("nan")
    )
    return PeakContext(
        floor_w=floor,
        near_w=_mean_power(window(CONTEXT_NEAR_S)),
        far_w=_mean_power(window(CONTEXT_FAR_S, CONTEXT_NEAR_S)),
    )


def _context_features(context: PeakContext, peak_mean_w: float) -> list[float]:
    floor = context.floor_w

    def lift(level: float) -> float:
        if not (np.isfinite(level) and np.isfinite(floor)):
            return float("nan")
        return float(np.log1p(max(level - floor, 0.0)))

    share = (
        max(context.near_w - floor, 0.0) / max(peak_mean_w - floor, 1.0)
        if np.isfinite(context.near_w) and np.isfinite(floor)
        else float("nan")
    )
    return [lift(context.near_w), lift(context.far_w), share]


def context_unknown(features: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Rows (peaks) of a feature matrix none of whose context features is known."""
    return np.asarray(np.isnan(features[:, _CONTEXT_COLUMNS]).all(axis=1), dtype=bool)


def without_context(features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A feature matrix as `/api/v1/ml` sees the same peaks: context features unknown."""
    out = np.array(features, dtype=np.float64, copy=True)
    out[:, _CONTEXT_COLUMNS] = np.nan
    return out


def peak_features(
    series: PowerSeries, context: PeakContext | None = None
) -> npt.NDArray[np.float64]:
    """The feature vector (order of `FEATURE_NAMES`) of one peak; without `context` its
    features are NaN. Raises ValueError when the series is empty."""
    power, weights = series.power_w, series.duration_s
    if power.size == 0:
        raise ValueError("a peak needs at least one interval with data")
    duration = float(weights.sum())
    hours = duration / 3600
    energy_wh = float(np.dot(power, weights)) / 3600
    mean = energy_wh * 3600 / duration
    maximum, minimum = float(power.max()), float(power.min())
    std = float(np.sqrt(np.average((power - mean) ** 2, weights=weights)))
    p10 = _weighted_quantile(power, weights, 0.10)
    p50 = _weighted_quantile(power, weights, 0.50)
    p90 = _weighted_quantile(power, weights, 0.90)
    steps = np.abs(np.diff(power))
    above_mean = power > mean
    crossings = int(np.count_nonzero(above_mean[1:] != above_mean[:-1]))
    thirds = _third_means(power, weights)
    safe_mean = max(mean, 1.0)
    safe_max = max(maximum, 1.0)
    high = power >= 0.8 * maximum
    if power.size > 2 and float(np.var(power)) > 0:
        centred = power - power.mean()
        lag1 = float(np.dot(centred[1:], centred[:-1]) / np.dot(centred, centred))
    else:
        lag1 = 1.0
    bands = [
        float(weights[(power >= lo) & (power < hi)].sum()) / duration
        for lo, hi in itertools.pairwise(_BANDS_W)
    ]
    values = [
        np.log1p(duration),
        np.log1p(energy_wh),
        mean,
        p50,
        maximum,
        minimum,
        std,
        p10,
        p90,
        std / safe_mean,
        maximum / safe_mean,
        minimum / safe_max,
        p10 / max(p90, 1.0),
        float(weights[high].sum()) / duration,
        float(weights[power >= 0.5 * maximum].sum()) / duration,
        float(np.count_nonzero(steps > 0.1 * safe_max)) / hours,
        float(np.count_nonzero(steps > 0.4 * safe_max)) / hours,
        crossings / hours,
        float(steps.mean()) / safe_mean if steps.size else 0.0,
        thirds[0] / safe_mean,
        thirds[1] / safe_mean,
        thirds[2] / safe_mean,
        (float(np.cumsum(weights)[int(np.argmax(power))]) - 0.5 * float(weights[0])) / duration,
        _longest_run(high, weights) / duration,
        *bands,
        lag1,
        *_shape_features(power, weights, duration),
        *_context_features(context or PeakContext.unknown(), mean),
    ]
    features = np.asarray(values, dtype=np.float64)
    if features.shape != (len(FEATURE_NAMES),):  # pragma: no cover - a programming error
        raise AssertionError("feature vector and FEATURE_NAMES disagree")
    return features
