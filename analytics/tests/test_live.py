"""The live figure (GET /api/v1/live) and the household's sensor health
(GET /api/v1/sensors/health): today's rollups plus the newest readings, the household's own
periods only, a pinned number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import ROLLUP_STATE_NAME, ConsumptionRollup, RollupState
from analytics.selectors.live import household_live, household_sensor_health
from energyleaf.users.models import User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from sensors.models import Reading, Sensor
from sensors.services import sensor_assign
from sensors.tests.factories import SensorFactory, make_readings

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 7, 2, 10, 7, tzinfo=UTC)  # 12:07 in Berlin; the local day began 22:00 UTC
MOVED = datetime(2024, 7, 2, 5, tzinfo=UTC)


def rollup(sensor: Sensor, start: datetime, owner: User, kwh: str, readings: int) -> None:
    ConsumptionRollup.objects.create(
        sensor=sensor,
        bucket_start=start,
        household_key=owner.pk,
        consumption=Decimal(kwh),
        readings=readings,
    )


def reading(sensor: Sensor, at: datetime, kwh: str, power: str | None = None) -> None:
    Reading.objects.create(
        sensor=sensor,
        timestamp=at,
        value=Decimal(2000),
        consumption=Decimal(kwh),
        value_current=Decimal(power) if power is not None else None,
    )


@pytest.fixture
def scene() -> dict[str, Any]:
    """A sensor that moved from `previous` to `user` at 05:00 UTC today; rollups up to 10:00,
    readings after them."""
    previous, user = UserFactory(), UserFactory()
    sensor = SensorFactory(user=previous)
    reading(sensor, datetime(2024, 7, 2, 4, tzinfo=UTC), "5")
    rollup(sensor, datetime(2024, 7, 2, 4, tzinfo=UTC), previous, "5", 1)
    sensor_assign(sensor=sensor, user=user, at=MOVED)
    rollup(sensor, datetime(2024, 7, 1, 21, 45, tzinfo=UTC), user, "9", 60)  # yesterday
    rollup(sensor, MOVED, user, "1.25", 60)
    rollup(sensor, datetime(2024, 7, 2, 9, 45, tzinfo=UTC), user, "0.5", 60)
    reading(sensor, datetime(2024, 7, 2, 9, 59, tzinfo=UTC), "0.3")  # in the 09:45 rollup
    make_readings(sensor, 28, start=datetime(2024, 7, 2, 10, tzinfo=UTC))  # 0.27 kWh, no power
    RollupState.objects.create(name=ROLLUP_STATE_NAME, covers_until=NOW - timedelta(minutes=4))
    return {"previous": previous, "user": user, "sensor": sensor}


def test_today_is_the_rollups_plus_the_readings_after_them(scene: dict[str, Any]) -> None:
    figure = household_live(user_id=scene["user"].pk, now=NOW)

    assert figure.today_consumption_kwh == Decimal("2.02")  # 1.25 + 0.5 + 0.27
    assert figure.day_start == datetime(2024, 7, 1, 22, tzinfo=UTC)
    assert figure.counted_until == NOW
    assert figure.time_zone == "Europe/Berlin"
    assert figure.sensor_id == scene["sensor"].pk
    # No power sent: 0.01 kWh in 15 s is 2.4 kW.
    assert figure.power_at == datetime(2024, 7, 2, 10, 6, 45, tzinfo=UTC)
    assert figure.power_w == pytest.approx(2400.0)


def test_sent_power_is_taken_as_it_is(scene: dict[str, Any]) -> None:
    reading(scene["sensor"], datetime(2024, 7, 2, 10, 7, tzinfo=UTC), "0.01", power="1234.5")

    figure = household_live(user_id=scene["user"].pk, now=NOW)

    assert figure.power_w == 1234.5
    assert figure.today_consumption_kwh == Decimal("2.03")


def test_the_previous_household_sees_only_its_own_time_with_the_sensor(
    scene: dict[str, Any],
) -> None:
    figure = household_live(user_id=scene["previous"].pk, now=NOW)

    assert figure.today_consumption_kwh == Decimal(5)
    assert (figure.sensor_id, figure.power_w, figure.power_at) == (None, None, None)


def test_a_household_without_readings_since_it_got_the_sensor_has_no_power() -> None:
    previous, user = UserFactory(), UserFactory()
    sensor = SensorFactory(user=previous)
    reading(sensor, datetime(2024, 7, 2, 10, tzinfo=UTC), "0.2", power="999")
    sensor_assign(sensor=sensor, user=user, at=datetime(2024, 7, 2, 10, 5, tzinfo=UTC))

    figure = household_live(user_id=user.pk, now=NOW)

    assert (figure.power_w, figure.power_at, figure.today_consumption_kwh) == (None, None, 0)
    assert household_sensor_health(user_id=user.pk, now=NOW)[0].last_reading_at is None


def test_rollups_far_behind_are_not_made_up_by_a_scan(scene: dict[str, Any]) -> None:
    RollupState.objects.update(covers_until=datetime(2024, 7, 2, 7, 3, tzinfo=UTC))

    figure = household_live(user_id=scene["user"].pk, now=NOW)

    assert figure.counted_until == datetime(2024, 7, 2, 7, tzinfo=UTC)
    assert figure.today_consumption_kwh == Decimal("1.25")


def test_the_api_answers_in_six_queries_in_the_households_zone(
    scene: dict[str, Any], django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    client = APIClient()
    client.force_authenticate(scene["user"])

    # periods, zone, rollup coverage, rollups, readings after them, newest readings
    with django_assert_num_queries(6):
        response = client.get(reverse("analytics:live"))

    assert response.status_code == 200
    assert response.json() == {
        "time_zone": "Europe/Berlin",
        "sensor": scene["sensor"].pk,
        "power_w": 2400.0,
        "power_at": "2024-07-02T12:06:45+02:00",
        "day_start": "2024-07-02T00:00:00+02:00",
        "today_consumption_kwh": 2.02,
        "counted_until": "2024-07-02T12:07:00+02:00",
    }
    assert "max-age=10" in response["Cache-Control"]


def test_sensor_health_counts_todays_readings_since_the_household_got_the_sensor(
    scene: dict[str, Any], django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    client = APIClient()
    client.force_authenticate(scene["user"])

    # sensors with their last reading, zone, rollup coverage, rollups, readings after them
    with django_assert_num_queries(5):
        response = client.get(reverse("analytics:sensor-health-list"))

    assert response.status_code == 200
    expected = int((NOW - MOVED) / timedelta(seconds=15))
    assert response.json() == [
        {
            "sensor": scene["sensor"].pk,
            "client_id": scene["sensor"].client_id,
            "sensor_type": "electricity",
            "held_since": "2024-07-02T07:00:00+02:00",
            "last_reading_at": "2024-07-02T12:06:45+02:00",
            "readings_today": 120 + 28,
            "expected_today": expected,
            "share_today": round((120 + 28) / expected, 3),
        }
    ]


def test_the_previous_household_and_staff_see_no_sensor(scene: dict[str, Any]) -> None:
    for caller in (scene["previous"], StaffFactory()):
        client = APIClient()
        client.force_authenticate(caller)
        assert client.get(reverse("analytics:sensor-health-list")).json() == []


def test_staff_without_household_get_an_empty_live_figure() -> None:
    client = APIClient()
    client.force_authenticate(StaffFactory())

    body = client.get(reverse("analytics:live")).json()

    assert (body["sensor"], body["power_w"], body["today_consumption_kwh"]) == (None, None, 0)


def test_anonymous_is_refused() -> None:
    assert APIClient().get(reverse("analytics:live")).status_code == 401
    assert APIClient().get(reverse("analytics:sensor-health-list")).status_code == 401
