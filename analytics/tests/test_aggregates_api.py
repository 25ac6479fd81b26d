"""Local-period aggregates (DST days of 23 and 25 hours, other zones) and the household API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.models import ConsumptionRollup
from analytics.selectors.aggregates import AggregateRow, consumption_aggregates
from energyleaf.tests.helpers import client_for
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from sensors.models import Sensor
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def fill(sensor: Sensor, start: datetime, end: datetime) -> None:
    """One rollup per 15 minutes in [start, end): 0.25 kWh used, 0.05 kWh fed in, 60 readings,
    power 1000 W on average with 1000 + minute-of-bucket W at most."""
    rows = []
    moment = start
    while moment < end:
        rows.append(
            ConsumptionRollup(
                sensor=sensor,
                household_key=sensor.user_id or 0,
                bucket_start=moment,
                consumption=Decimal("0.25"),
                inserted=Decimal("0.05"),
                readings=60,
                power_sum_w=60_000.0,
                power_count=60,
                power_max_w=1000.0 + moment.minute,
                power_min_w=900.0,
            )
        )
        moment += timedelta(minutes=15)
    ConsumptionRollup.objects.bulk_create(rows)


def length(row: AggregateRow) -> timedelta:
    """Real duration of a period (aware arithmetic in one zone would give wall-clock time)."""
    return row.end.astimezone(UTC) - row.start.astimezone(UTC)


def local(*args: int, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def test_days_across_both_dst_changes_in_berlin_have_23_and_25_hours() -> None:
    sensor = SensorFactory()
    fill(sensor, datetime(2024, 3, 29, tzinfo=UTC), datetime(2024, 4, 2, tzinfo=UTC))
    fill(sensor, datetime(2024, 10, 25, tzinfo=UTC), datetime(2024, 10, 29, tzinfo=UTC))

    spring = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 3, 30),
        end=local(2024, 4, 1),
        resolution="day",
        time_zone="Europe/Berlin",
    )
    autumn = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 10, 26),
        end=local(2024, 10, 28),
        resolution="day",
        time_zone="Europe/Berlin",
    )

    assert [(row.start, length(row), row.consumption_kwh) for row in spring] == [
        (local(2024, 3, 30), timedelta(hours=24), 24.0),
        (local(2024, 3, 31), timedelta(hours=23), 23.0),
    ]
    assert [(row.start, length(row), row.consumption_kwh) for row in autumn] == [
        (local(2024, 10, 26), timedelta(hours=24), 24.0),
        (local(2024, 10, 27), timedelta(hours=25), 25.0),
    ]
    assert autumn[1].feed_in_kwh == pytest.approx(5.0)
    assert autumn[1].readings == 100 * 60
    assert autumn[1].average_power_w == 1000.0
    assert autumn[1].max_power_w == 1045.0
    assert spring[1].start.isoformat() == "2024-03-31T00:00:00+01:00"
    assert spring[1].end.isoformat() == "2024-04-01T00:00:00+02:00"


def test_hours_skip_the_missing_hour_and_repeat_the_doubled_one() -> None:
    sensor = SensorFactory()
    fill(sensor, datetime(2024, 3, 30, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    fill(sensor, datetime(2024, 10, 26, tzinfo=UTC), datetime(2024, 10, 28, tzinfo=UTC))

    spring = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 3, 31),
        end=local(2024, 4, 1),
        resolution="hour",
        time_zone="Europe/Berlin",
    )
    autumn = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 10, 27),
        end=local(2024, 10, 28),
        resolution="hour",
        time_zone="Europe/Berlin",
    )

    assert len(spring) == 23
    assert [row.start.isoformat() for row in spring[1:3]] == [
        "2024-03-31T01:00:00+01:00",
        "2024-03-31T03:00:00+02:00",
    ]
    assert len(autumn) == 25
    assert [row.start.isoformat() for row in autumn[2:4]] == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
    ]
    assert {row.consumption_kwh for row in spring + autumn} == {1.0}
    assert all(length(row) == timedelta(hours=1) for row in spring + autumn)


def test_weeks_start_on_monday_and_months_are_calendar_months() -> None:
    sensor = SensorFactory()
    fill(sensor, datetime(2024, 2, 25, tzinfo=UTC), datetime(2024, 4, 10, tzinfo=UTC))

    weeks = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 3, 27),  # a Wednesday
        end=local(2024, 4, 2),
        resolution="week",
        time_zone="Europe/Berlin",
    )
    months = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 3, 1),
        end=local(2024, 4, 1),
        resolution="month",
        time_zone="Europe/Berlin",
    )

    assert [(row.start, row.end, row.consumption_kwh) for row in weeks] == [
        (local(2024, 3, 25), local(2024, 4, 1), 7 * 24.0 - 1.0),
        (local(2024, 4, 1), local(2024, 4, 8), 7 * 24.0),
    ]
    assert [(row.start, row.end, row.consumption_kwh) for row in months] == [
        (local(2024, 3, 1), local(2024, 4, 1), 31 * 24.0 - 1.0),
    ]


def test_new_york_days_are_local_and_empty_periods_are_zero() -> None:
    sensor = SensorFactory()
    fill(sensor, datetime(2024, 3, 10, 5, tzinfo=UTC), datetime(2024, 3, 11, 4, tzinfo=UTC))

    days = consumption_aggregates(
        sensor_id=sensor.pk,
        start=local(2024, 3, 9, zone=NEW_YORK),
        end=local(2024, 3, 12, zone=NEW_YORK),
        resolution="day",
        time_zone="America/New_York",
    )

    assert [(row.start.isoformat(), row.consumption_kwh, row.readings) for row in days] == [
        ("2024-03-09T00:00:00-05:00", 0.0, 0),
        ("2024-03-10T00:00:00-05:00", 23.0, 92 * 60),
        ("2024-03-11T00:00:00-04:00", 0.0, 0),
    ]
    assert days[0].average_power_w is None
    assert days[0].max_power_w is None


# --- API ------------------------------------------------------------------------------------

URL = "/api/v1/aggregates"


@pytest.fixture
def household() -> tuple[APIClient, Sensor]:
    sensor = SensorFactory()
    client = client_for(sensor.user)
    return client, sensor


def test_url_name() -> None:
    assert reverse("analytics:aggregate-list") == URL


def test_plain_dates_are_local_days_with_the_end_day_included(
    household: tuple[APIClient, Sensor],
) -> None:
    client, sensor = household
    fill(sensor, datetime(2024, 10, 25, tzinfo=UTC), datetime(2024, 10, 29, tzinfo=UTC))

    response = client.get(URL, {"start": "2024-10-26", "end": "2024-10-27", "resolution": "day"})

    assert response.status_code == 200
    body = response.json()
    assert body["sensor"] == sensor.pk
    assert body["time_zone"] == "Europe/Berlin"
    assert body["start"] == "2024-10-26T00:00:00+02:00"
    assert body["end"] == "2024-10-28T00:00:00+01:00"
    assert [(row["start"], row["consumption_kwh"]) for row in body["results"]] == [
        ("2024-10-26T00:00:00+02:00", 24.0),
        ("2024-10-27T00:00:00+02:00", 25.0),
    ]
    assert body["results"][1] == {
        "start": "2024-10-27T00:00:00+02:00",
        "end": "2024-10-28T00:00:00+01:00",
        "consumption_kwh": 25.0,
        "feed_in_kwh": pytest.approx(5.0),
        "average_power_w": 1000.0,
        "max_power_w": 1045.0,
        "readings": 6000,
    }


def test_datetimes_with_offset_are_accepted(household: tuple[APIClient, Sensor]) -> None:
    client, sensor = household
    fill(sensor, datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))

    response = client.get(
        URL,
        {
            "start": "2024-07-01T02:00:00+02:00",
            "end": "2024-07-01T04:00:00+00:00",
            "resolution": "hour",
        },
    )

    assert response.status_code == 200
    assert [row["start"] for row in response.json()["results"]] == [
        "2024-07-01T02:00:00+02:00",
        "2024-07-01T03:00:00+02:00",
        "2024-07-01T04:00:00+02:00",
        "2024-07-01T05:00:00+02:00",
    ]


@pytest.mark.parametrize(
    ("case", "params", "field"),
    [
        (
            "bad_resolution",
            {"start": "2024-01-01", "end": "2024-01-02", "resolution": "x"},
            "resolution",
        ),
        (
            "naive_datetime",
            {"start": "2024-01-01T00:00:00", "end": "2024-01-02", "resolution": "day"},
            "start",
        ),
        ("garbage", {"start": "yesterday", "end": "2024-01-02", "resolution": "day"}, "start"),
        ("missing_end", {"start": "2024-01-01", "resolution": "day"}, "end"),
        (
            "end_before_start",
            {"start": "2024-01-05", "end": "2024-01-02", "resolution": "day"},
            "end",
        ),
        ("too_long", {"start": "2020-01-01", "end": "2024-01-02", "resolution": "hour"}, "end"),
    ],
)
def test_invalid_input_is_400_in_the_error_shape(
    household: tuple[APIClient, Sensor], case: str, params: dict[str, str], field: str
) -> None:
    client, _ = household
    response = client.get(URL, params)
    assert response.status_code == 400, case
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"] == "Validation error"
    assert list(body["extra"]["fields"]) == [field]


def test_another_households_sensor_is_404(household: tuple[APIClient, Sensor]) -> None:
    client, _ = household
    foreign = SensorFactory()
    response = client.get(
        URL, {"start": "2024-01-01", "end": "2024-01-02", "resolution": "day", "sensor": foreign.pk}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "sensor_not_found"


def test_own_sensor_may_be_named(household: tuple[APIClient, Sensor]) -> None:
    client, sensor = household
    response = client.get(
        URL, {"start": "2024-01-01", "end": "2024-01-01", "resolution": "hour", "sensor": sensor.pk}
    )
    assert response.status_code == 200
    assert len(response.json()["results"]) == 24


def test_household_without_sensor_is_404() -> None:
    client = client_for(UserFactory())
    response = client.get(URL, {"start": "2024-01-01", "end": "2024-01-02", "resolution": "day"})
    assert response.status_code == 404


def test_user_parameter_is_for_admins_only(household: tuple[APIClient, Sensor]) -> None:
    client, _ = household
    other = SensorFactory(user=UserFactory(household__time_zone="America/New_York"))
    params = {
        "start": "2024-01-01",
        "end": "2024-01-02",
        "resolution": "day",
        "user": other.user_id,
    }

    assert client.get(URL, params).status_code == 403

    staff_without_role = client_for(StaffFactory())
    assert staff_without_role.get(URL, params).status_code == 403

    admin = client_for(StaffFactory(roles=["researcher"]))
    response = admin.get(URL, params)
    assert response.status_code == 200
    body = response.json()
    assert body["sensor"] == other.pk
    assert body["time_zone"] == "America/New_York"
    assert body["results"][0]["start"] == "2024-01-01T00:00:00-05:00"


def test_anonymous_is_refused() -> None:
    response = APIClient().get(
        URL, {"start": "2024-01-01", "end": "2024-01-02", "resolution": "day"}
    )
    assert response.status_code in {401, 403}
