"""Meter data given as JSON lines (`classify_readings`, docs/classifier.md) as detector input."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import numpy.typing as npt

from analytics.compute.detection import instant_ns

# Reading.consumption keeps 6 decimals (kWh); register differences are rounded the same way.
_DECIMALS = 6


class HistoryError(ValueError):
    """A line that is not a household-day of register readings."""


def history_from_line(
    line: str,
) -> tuple[object, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """`{"day": d, "readings": [[ISO-8601 with offset, register kWh], ...]}` → the day value,
    reading instants (int64 ns UTC, ascending, one per instant) and each reading's consumption
    since the previous one (kWh; NaN for the first and where the register went backwards)."""
    try:
        data = json.loads(line)
    except ValueError as error:
        raise HistoryError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("readings"), list):
        raise HistoryError('expected an object with a "readings" list')
    instants: list[int] = []
    registers: list[float] = []
    for index, item in enumerate(data["readings"]):
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise HistoryError(f"readings[{index}] is not [timestamp, register]")
        text, value = item
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError as error:
            raise HistoryError(f"readings[{index}]: not an ISO-8601 timestamp") from error
        if moment.tzinfo is None:
            raise HistoryError(f"readings[{index}]: the timestamp has no UTC offset")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise HistoryError(f"readings[{index}]: the register is not a finite number")
        instants.append(instant_ns(moment))
        registers.append(float(value))
    t = np.asarray(instants, dtype=np.int64)
    register = np.asarray(registers, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, register = t[order], register[order]
    if t.size:
        first = np.concatenate(([True], t[1:] != t[:-1]))
        t, register = t[first], register[first]
    consumption = np.full(t.size, np.nan)
    if t.size > 1:
        steps = np.round(np.diff(register), _DECIMALS)
        consumption[1:] = np.where(steps >= 0, steps, np.nan)
    return data.get("day"), t, consumption
