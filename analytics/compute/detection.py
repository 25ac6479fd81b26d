"""Pure helpers of storing detected sequences (no Django): whether a stored sequence and a new
detection are one event, and the figures of a time span from the readings' arrays."""

from __future__ import annotations

import zlib
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


# --- the arrays kept between runs (`analytics.models.DetectionState`) ----------------------------

_NAN_UNITS = np.iinfo(np.int64).min  # a missing consumption among whole micro-kWh
_UNITS_PER_KWH = 1e6  # Reading.consumption has 6 decimals
_MAX_EXACT_UNITS = 2**53  # integers up to here are exact in float64
_FLOATS, _UNITS = b"f", b"u"
_WIDTHS = ((b"2", np.int16), (b"4", np.int32), (b"8", np.int64))


def _narrow(values: npt.NDArray[np.int64]) -> bytes:
    """Integers in the narrowest of 16, 32 and 64 bits that holds them all, after a width mark."""
    low = int(values.min()) if values.size else 0
    high = int(values.max()) if values.size else 0
    for mark, dtype in _WIDTHS:
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return mark + values.astype(dtype).tobytes()
    raise AssertionError("int64 holds every int64")  # pragma: no cover


def _widen(raw: bytes) -> npt.NDArray[np.int64]:
    dtype = dict(_WIDTHS)[raw[:1]]
    return np.frombuffer(raw, dtype=dtype, offset=1).astype(np.int64)


def state_pack(t_ns: npt.NDArray[np.int64], kwh: npt.NDArray[np.float64]) -> tuple[bytes, bytes]:
    """Reading instants (int64 ns, ascending, whole microseconds) and consumptions (float64, NaN
    when unknown) as two compressed byte strings that `state_unpack` turns back into exactly the
    same arrays.

    Instants are stored as microsecond steps, compressed (regular 15-s steps shrink to almost
    nothing); consumptions as whole micro-kWh when that is exact for every value (it is for what
    the database stores: 6 decimals), otherwise as raw float64, uncompressed (compressing them
    saves little and costs more than the rest of the packing). Integers take the narrowest of
    16, 32 and 64 bits: 15 s below 7.8 kW is 16 bits."""
    t_us = np.asarray(t_ns, dtype=np.int64) // 1000
    first = t_us[:1].tobytes()  # 8 bytes, or none without readings
    kwh = np.asarray(kwh, dtype=np.float64)
    missing = np.isnan(kwh)
    units = np.rint(np.where(missing, 0.0, kwh) * _UNITS_PER_KWH)
    exact = bool(np.all(np.abs(units) < _MAX_EXACT_UNITS)) and np.array_equal(
        np.where(missing, np.nan, units / _UNITS_PER_KWH), kwh, equal_nan=True
    )
    if exact:
        packed = _UNITS + _narrow(np.where(missing, _NAN_UNITS, units.astype(np.int64)))
    else:
        packed = _FLOATS + kwh.tobytes()
    times = first + _narrow(np.diff(t_us))
    return zlib.compress(times, 1), packed


def state_unpack(
    times: bytes, consumption: bytes
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The arrays `state_pack` packed: int64 ns and float64 kWh."""
    raw_times = zlib.decompress(times)
    if len(raw_times) > 1:  # more than the width mark of no steps: there are readings
        first = np.frombuffer(raw_times[:8], dtype=np.int64)
        t_us = np.concatenate((first, first[0] + np.cumsum(_widen(raw_times[8:]))))
    else:
        t_us = np.zeros(0, dtype=np.int64)
    t_ns = t_us * 1000
    raw = bytes(consumption)
    if raw[:1] == _UNITS:
        units = _widen(raw[1:])
        kwh = np.where(units == _NAN_UNITS, np.nan, units / _UNITS_PER_KWH)
    else:
        kwh = np.frombuffer(raw, dtype=np.float64, offset=1).copy()
    return t_ns.astype(np.int64), kwh.astype(np.float64)


def arrays_between(
    t_ns: npt.NDArray[np.int64],
    kwh: npt.NDArray[np.float64],
    start_ns: int | None,
    end_ns: int | None,
    *,
    end_inclusive: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The readings (ascending arrays) with start_ns <= t < end_ns (<= with `end_inclusive`);
    None is unbounded."""
    lo = 0 if start_ns is None else int(np.searchsorted(t_ns, start_ns, side="left"))
    if end_ns is None:
        hi = t_ns.size
    elif end_inclusive:
        hi = int(np.searchsorted(t_ns, end_ns, side="right"))
    else:
        hi = int(np.searchsorted(t_ns, end_ns, side="left"))
    return t_ns[lo:hi], kwh[lo:hi]
