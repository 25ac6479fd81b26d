"""Test data for analytics: readings made from a power profile, bulk-inserted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory

__all__ = ["SensorFactory", "readings_from_power"]

Load = tuple[datetime, datetime, float]
_MICRO = Decimal("0.000001")


def readings_from_power(
    sensor: Sensor,
    *,
    start: datetime,
    end: datetime,
    base_w: float = 200.0,
    noise_w: float = 20.0,
    loads: Iterable[Load] = (),
    step_s: int = 15,
    seed: int = 0,
    keep: Callable[[datetime], bool] | None = None,
    value_start: float = 1000.0,
) -> list[Reading]:
    """Readings every `step_s` from `start` to `end` (inclusive) of a meter whose power (W) is a
    noisy `base_w` plus each load's watts while [load_start, load_end] covers an interval.

    Each reading's consumption is the energy (kWh, 6 decimals) of the interval that ends at it,
    `value` the running register. `keep(timestamp)` False leaves a reading out (a gap that a
    later call with the inverse `keep` fills, like a late batch upload). Bulk-inserted.
    """
    count = int((end - start).total_seconds() // step_s) + 1
    times = [start + timedelta(seconds=step_s * i) for i in range(count)]
    rng = np.random.default_rng(seed)
    power = base_w + rng.normal(0.0, noise_w, count)
    for load_start, load_end, watts in loads:
        for i in range(1, count):
            if times[i - 1] >= load_start and times[i] <= load_end:
                power[i] += watts
    energy = np.clip(power, 0.0, None) * step_s / 3.6e6
    energy[0] = 0.0
    register = value_start + np.cumsum(energy)
    rows = [
        Reading(
            sensor=sensor,
            timestamp=moment,
            value=Decimal(repr(float(register[i]))).quantize(_MICRO),
            consumption=Decimal(repr(float(energy[i]))).quantize(_MICRO),
        )
        for i, moment in enumerate(times)
        if keep is None or keep(moment)
    ]
    return Reading.objects.bulk_create(rows, batch_size=2000)
