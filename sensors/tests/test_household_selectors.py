"""The reads behind a household's live figure and sensor health: the sensors it holds with
their last reading since it got them, the newest readings since a moment, and per-sensor sums
of the periods' readings after a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, Sensor
from sensors.selectors import household_sensors_held
from sensors.selectors.assignments import household_periods
from sensors.selectors.readings import readings_newest, readings_sums_by_sensor
from sensors.services import sensor_assign
from sensors.tests.factories import SensorFactory, make_readings

pytestmark = pytest.mark.django_db

START = datetime(2024, 7, 2, 8, tzinfo=UTC)
MOVED = START + timedelta(minutes=5)  # after reading 20 of make_readings


def _moved_sensor() -> tuple[Sensor, int, int]:
    first, second = UserFactory(), UserFactory()
    sensor = SensorFactory(user=first)
    make_readings(sensor, 40, start=START)  # every 15 s for 10 minutes
    sensor_assign(sensor=sensor, user=second, at=MOVED)
    return sensor, first.pk, second.pk


def test_held_sensors_carry_the_start_of_the_period_and_its_last_reading() -> None:
    sensor, first, second = _moved_sensor()
    gas = SensorFactory(user_id=second, sensor_type=Sensor.SensorType.GAS)

    held = household_sensors_held(user_id=second)

    assert [row.pk for row in held] == [sensor.pk, gas.pk]
    assert held[0].held_since == MOVED  # type: ignore[attr-defined]
    assert held[0].last_reading_at == START + timedelta(seconds=15 * 39)  # type: ignore[attr-defined]
    assert held[1].last_reading_at is None  # type: ignore[attr-defined]
    assert household_sensors_held(user_id=first) == []


def test_a_held_sensor_without_readings_since_shows_none_of_the_previous_households() -> None:
    first, second = UserFactory(), UserFactory()
    sensor = SensorFactory(user=first)
    make_readings(sensor, 4, start=START)
    sensor_assign(sensor=sensor, user=second, at=MOVED)

    assert household_sensors_held(user_id=second)[0].last_reading_at is None  # type: ignore[attr-defined]


def test_newest_readings_since_a_moment_newest_first() -> None:
    sensor, _, _ = _moved_sensor()
    Reading.objects.filter(sensor=sensor, timestamp=START + timedelta(seconds=15 * 39)).update(
        value_current=Decimal("512.5")
    )

    newest = readings_newest(sensor_id=sensor.pk, since=MOVED)

    assert [row[0] for row in newest] == [
        START + timedelta(seconds=15 * 39),
        START + timedelta(seconds=15 * 38),
    ]
    assert newest[0][2] == Decimal("512.5")
    assert readings_newest(sensor_id=sensor.pk, since=START + timedelta(hours=1)) == []


def test_sums_after_a_moment_keep_to_each_households_periods() -> None:
    sensor, first, second = _moved_sensor()
    after = START + timedelta(minutes=4)  # reading 16 on

    mine = readings_sums_by_sensor(periods=household_periods(user_id=second), start=after)
    theirs = readings_sums_by_sensor(periods=household_periods(user_id=first), start=after)

    assert mine == {sensor.pk: (Decimal("0.2"), 20)}  # readings 20-39
    assert theirs == {sensor.pk: (Decimal("0.04"), 4)}  # readings 16-19
    assert readings_sums_by_sensor(periods=[], start=after) == {}
