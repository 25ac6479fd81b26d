"""Test data for sensors: sensors, their assignment periods and tokens, readings (one at a time or
a bulk-inserted run), refused readings and meter events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from factory.django import DjangoModelFactory

from energyleaf.users.tests.factories import UserFactory
from sensors.models import (
    ASSIGNMENT_ORIGIN,
    MeterEvent,
    Reading,
    RejectedReading,
    Sensor,
    SensorAssignment,
    SensorToken,
)
from sensors.services.assignments import assignment_sync

# The first instant of the readings the factories make unless told otherwise.
READINGS_START = datetime(2024, 7, 1, tzinfo=UTC)


class SensorFactory(DjangoModelFactory[Sensor]):
    class Meta:
        model = Sensor

    client_id = factory.Sequence(
        lambda n: f"AA:BB:CC:{(n >> 16) & 255:02X}:{(n >> 8) & 255:02X}:{n & 255:02X}"
    )
    sensor_type = Sensor.SensorType.ELECTRICITY
    user = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class: type[Sensor], *args: Any, **kwargs: Any) -> Sensor:
        # A sensor made with a household gets its first assignment period, as registration
        # (`sensor_register`) gives it; no receiver does that behind a plain save.
        sensor = super()._create(model_class, *args, **kwargs)
        if sensor.user_id is not None:
            assignment_sync(sensor_id=sensor.pk, user_id=sensor.user_id)
        return sensor


class SensorAssignmentFactory(DjangoModelFactory[SensorAssignment]):
    """A closed period [ASSIGNMENT_ORIGIN, READINGS_START) of a sensor that has no household now
    (SensorFactory gives a sensor made with a household its open period)."""

    class Meta:
        model = SensorAssignment

    sensor = factory.SubFactory(SensorFactory, user=None)
    user = factory.SubFactory(UserFactory)
    household_key = factory.LazyAttribute(lambda o: o.user.pk)
    valid_from = ASSIGNMENT_ORIGIN
    valid_to = READINGS_START


class SensorTokenFactory(DjangoModelFactory[SensorToken]):
    """A live token of a sensor, stored as the SHA-256 of `token` (pass `token="..."`)."""

    class Meta:
        model = SensorToken

    class Params:
        token = factory.Sequence(lambda n: f"test-token-{n}")

    sensor = factory.SubFactory(SensorFactory)
    token_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.token.encode()).hexdigest())
    issued_at = factory.Faker("past_datetime", start_date="-1h", tzinfo=UTC)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=1))
    issued_for_user_id = factory.LazyAttribute(lambda o: o.sensor.user_id)


class ReadingFactory(DjangoModelFactory[Reading]):
    """A reading every 15 s from READINGS_START, 0.01 kWh apart (the factory's own sequence)."""

    class Meta:
        model = Reading

    sensor = factory.SubFactory(SensorFactory)
    timestamp = factory.Sequence(lambda n: READINGS_START + timedelta(seconds=15 * n))
    value = factory.Sequence(lambda n: Decimal("1000") + Decimal("0.01") * n)
    consumption = Decimal("0.01")


class RejectedReadingFactory(DjangoModelFactory[RejectedReading]):
    class Meta:
        model = RejectedReading

    sensor = factory.SubFactory(SensorFactory)
    measured_at = factory.Sequence(lambda n: READINGS_START + timedelta(seconds=15 * n))
    reason = RejectedReading.Reason.VALUE_DECREASED
    status_message = "Value lower than the previous reading"
    value = Decimal("999.5")
    payload = factory.LazyAttribute(lambda o: {"value": str(o.value)})


class MeterEventFactory(DjangoModelFactory[MeterEvent]):
    class Meta:
        model = MeterEvent

    sensor = factory.SubFactory(SensorFactory)
    kind = MeterEvent.Kind.REPLACEMENT
    occurred_at = READINGS_START
    previous_value = Decimal("12345.000000")
    new_value = Decimal("0.500000")
    confirming_readings = 3


def make_readings(sensor: Sensor, count: int, *, start: datetime | None = None) -> list[Reading]:
    """`count` readings every 15 s from `start`, 0.01 kWh apart, bulk-inserted."""
    start = start or READINGS_START
    rows = [
        Reading(
            sensor=sensor,
            timestamp=start + timedelta(seconds=15 * i),
            value=Decimal("1000") + Decimal("0.01") * i,
            consumption=Decimal("0.01") if i else Decimal(0),
        )
        for i in range(count)
    ]
    return Reading.objects.bulk_create(rows, batch_size=5000)
