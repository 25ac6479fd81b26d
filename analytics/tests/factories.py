"""Test data for analytics: sequences (peaks, anomalies), devices with their peaks, suggestions and
power estimations, rollups, and readings made from a power profile (bulk-inserted)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
import numpy as np
from factory.django import DjangoModelFactory

from analytics.compute.detection import state_pack
from analytics.models import (
    ConsumptionRollup,
    DetectionState,
    Device,
    DeviceCategory,
    DevicePeak,
    DevicePowerEstimation,
    DeviceSuggestion,
    RollupState,
    Sequence,
)
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory

__all__ = [
    "ConsumptionRollupFactory",
    "DetectionStateFactory",
    "DeviceFactory",
    "DevicePeakFactory",
    "DevicePowerEstimationFactory",
    "DeviceSuggestionFactory",
    "RollupStateFactory",
    "SensorFactory",
    "SequenceFactory",
    "readings_from_power",
]

# Where the factories' sequences and buckets start unless told otherwise.
ANALYTICS_START = datetime(2024, 7, 1, 12, tzinfo=UTC)


class SequenceFactory(DjangoModelFactory[Sequence]):
    """A five-minute peak of 100 W above the base load, one every 30 minutes from
    ANALYTICS_START (give `start` for another time; `end` follows it)."""

    class Meta:
        model = Sequence

    sensor = factory.SubFactory(SensorFactory)
    kind = Sequence.Kind.PEAK
    start = factory.Sequence(lambda n: ANALYTICS_START + timedelta(minutes=30 * n))
    end = factory.LazyAttribute(lambda o: o.start + timedelta(minutes=5))
    average_peak_power_w = 100.0
    average_power_w = factory.LazyAttribute(lambda o: o.average_peak_power_w + 50)
    energy_kwh = factory.LazyAttribute(lambda o: o.average_peak_power_w / 12_000)


class DeviceFactory(DjangoModelFactory[Device]):
    class Meta:
        model = Device

    user = factory.SubFactory(UserFactory)
    name = "Kettle"
    category = DeviceCategory.KETTLE


class DevicePeakFactory(DjangoModelFactory[DevicePeak]):
    """A device confirmed for a peak of one of its household's sensors."""

    class Meta:
        model = DevicePeak

    device = factory.SubFactory(DeviceFactory)
    sequence = factory.SubFactory(
        SequenceFactory, sensor__user=factory.SelfAttribute("...device.user")
    )


class DeviceSuggestionFactory(DjangoModelFactory[DeviceSuggestion]):
    class Meta:
        model = DeviceSuggestion

    sequence = factory.SubFactory(SequenceFactory)
    category = DeviceCategory.KETTLE
    probability = factory.Faker("pyfloat", min_value=0, max_value=1)
    model_version = "test-model"


class DevicePowerEstimationFactory(DjangoModelFactory[DevicePowerEstimation]):
    class Meta:
        model = DevicePowerEstimation

    user = factory.SubFactory(UserFactory)
    r_squared = 0.9
    quality = DevicePowerEstimation.Quality.WELL
    peaks_used = 3


class ConsumptionRollupFactory(DjangoModelFactory[ConsumptionRollup]):
    """One 15-minute bucket of a sensor (consecutive buckets from ANALYTICS_START) holding 60
    readings of 0.01 kWh."""

    class Meta:
        model = ConsumptionRollup

    sensor = factory.SubFactory(SensorFactory)
    bucket_start = factory.Sequence(lambda n: ANALYTICS_START + timedelta(minutes=15 * n))
    household_key = factory.LazyAttribute(lambda o: o.sensor.user_id or 0)
    consumption = Decimal("0.600000")
    readings = 60
    power_sum_w = 60 * 2400.0
    power_count = 60
    power_max_w = 2400.0
    power_min_w = 2400.0
    value_min = Decimal("1000.000000")
    value_max = Decimal("1000.600000")


_NO_TIMES = np.zeros(0, dtype=np.int64)
_NO_KWH = np.zeros(0, dtype=np.float64)


class DetectionStateFactory(DjangoModelFactory[DetectionState]):
    """Kept arrays without readings (pack real arrays with `state_pack` for anything more)."""

    class Meta:
        model = DetectionState

    sensor = factory.SubFactory(SensorFactory)
    span_start = datetime(2024, 5, 5, 12, 30, tzinfo=UTC)
    span_end = datetime(2024, 5, 6, 12, 30, tzinfo=UTC)
    checked_at = datetime(2024, 5, 6, 12, 40, tzinfo=UTC)
    readings = 0
    times = factory.LazyFunction(lambda: state_pack(_NO_TIMES, _NO_KWH)[0])
    consumption = factory.LazyFunction(lambda: state_pack(_NO_TIMES, _NO_KWH)[1])


class RollupStateFactory(DjangoModelFactory[RollupState]):
    class Meta:
        model = RollupState

    name = factory.Sequence(lambda n: f"job-{n}")
    watermark = ANALYTICS_START
    covers_until = ANALYTICS_START


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
