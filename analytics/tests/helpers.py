"""Helpers of the analytics tests (plain functions; fixtures are in conftest.py, test data in
factories.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from analytics.compute.classifier.training import TrainingConfig
from analytics.models import ConsumptionRollup, Sequence
from analytics.tests.factories import ANALYTICS_START, ConsumptionRollupFactory, SequenceFactory
from sensors.models import Sensor

# The training of the tiny classifier the tests share (conftest's `tiny_model_dir`): seconds,
# not minutes.
TINY_TRAINING = replace(
    TrainingConfig(),
    households=6,
    days=2,
    single_days=24,
    evaluation_days=8,
    calibration_days=8,
    min_positives=3,
    max_iter=15,
    folds=2,
)

# Floats as arithmetic leaves them: what the API and the CSV files must print rounded.
NOISY_BIG = 2454.000000000036
NOISY_SMALL = 0.12270000000000181
TINY = 1e-7


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


def noisy_rollups(sensor: Sensor, start: datetime) -> list[ConsumptionRollup]:
    """Two 15-minute buckets of one reading each from `start`, of the sensor's current household:
    0.1 and 0.2 kWh (a float sum of 0.30000000000000004) at NOISY_BIG and TINY watts."""
    return [
        ConsumptionRollupFactory(
            sensor=sensor,
            household_key=sensor.user_id,  # the household that holds the sensor
            bucket_start=start + timedelta(minutes=minutes),
            consumption=Decimal(consumption),
            inserted=Decimal("0.000001"),
            readings=1,
            power_sum_w=power,
            power_count=1,
            power_max_w=power,
            power_min_w=power,
            value_min=None,
            value_max=None,
        )
        for minutes, consumption, power in ((0, "0.1", NOISY_BIG), (15, "0.2", TINY))
    ]


def set_arm(user: Any, arm: int) -> None:
    """Put the user's household into study arm `arm` (a `Household.AppVersion` value)."""
    from energyleaf.users.models import Household

    Household.objects.filter(user=user).update(app_version=arm)
