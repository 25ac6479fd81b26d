"""Pure helpers of storing detected sequences (no Django): whether a stored sequence and a new
detection are one event, and the figures of a time span from the readings' arrays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from analytics.compute.sequences import (
    KWH_PER_NS_TO_W,
    DetectedSequence,
    DetectionConfig,
    SequenceSummary,
    should_merge,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000


def instant_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch (UTC) of an aware datetime, exactly."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1_000


@dataclass(frozen=True)
class SpanFigures:
    """Mean power, mean power above the base load (W) and energy (kWh) of a time span."""

    average_power_w: float
    average_peak_power_w: float
    energy_kwh: float


def span_figures(
    detected: DetectedSequence,
    start: datetime,
    end: datetime,
    t_ns: npt.NDArray[np.int64],
    kwh: npt.NDArray[np.float64],
    base_load_w: float | None,
) -> SpanFigures:
    """Figures of [start, end]: the detector's when it is the detected span, otherwise summed
    from the readings (the consumption of readings in (start, end]) when they cover it."""
    same_span = start == detected.start and end == detected.end
    if same_span or t_ns.size == 0 or instant_ns(start) < int(t_ns[0]):
        return SpanFigures(
            detected.average_power_w, detected.average_peak_power_w, detected.energy_kwh
        )
    lo = int(np.searchsorted(t_ns, instant_ns(start), side="right"))
    hi = int(np.searchsorted(t_ns, instant_ns(end), side="right"))
    energy = float(np.nansum(np.clip(kwh[lo:hi], 0.0, None)))
    power = energy * KWH_PER_NS_TO_W / (instant_ns(end) - instant_ns(start))
    base = base_load_w if base_load_w is not None else power - detected.average_peak_power_w
    return SpanFigures(power, power - base, energy)


def continues(stored: SequenceSummary, detected: DetectedSequence, config: DetectionConfig) -> bool:
    """Whether a stored sequence and a detected one are one event (overlap, touch or merge)."""
    if stored.start <= detected.start:
        return should_merge(stored, detected, config)
    return should_merge(detected, stored, config)
