from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from factory.django import DjangoModelFactory

from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, Sensor
from sensors.services.assignments import assignment_sync


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


def make_readings(sensor: Sensor, count: int, *, start: datetime | None = None) -> list[Reading]:
    """`count` readings every 15 s from `start`, 0.01 kWh apart, bulk-inserted."""
    start = start or datetime(2024, 7, 1, tzinfo=UTC)
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
