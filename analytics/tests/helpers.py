"""Helpers of the analytics tests (plain functions; fixtures are in conftest.py, test data in
factories.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from analytics.models import Sequence
from analytics.tests.factories import ANALYTICS_START, SequenceFactory
from sensors.models import Sensor


def make_sequence(
    sensor: Sensor, *, minutes: int = 0, power_w: float = 100.0, kind: str = "peak", **fields: Any
) -> Sequence:
    """A five-minute sequence of `sensor` starting `minutes` after ANALYTICS_START (2024-07-01
    12:00 UTC), `power_w` above the base load (average power 50 W more, energy power / 12 000
    kWh unless `energy_kwh` is given)."""
    return SequenceFactory(
        sensor=sensor,
        kind=kind,
        start=ANALYTICS_START + timedelta(minutes=minutes),
        average_peak_power_w=power_w,
        **fields,
    )
