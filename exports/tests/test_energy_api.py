"""GET /api/v1/csv_energy: exact files against the stored rows, DST days, zones, every error."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.conf import LazySettings
from django.db import connection
from rest_framework.test import APIClient

from analytics.models import ConsumptionRollup
from energyleaf.tests.helpers import client_for, streamed_text, utc
from energyleaf.users.models import User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from exports.selectors import energy as energy_selectors
from sensors.models import Reading, Sensor
from sensors.selectors import readings
from sensors.tests.factories import SensorFactory, make_readings
from sensors.tests.helpers import reading

pytestmark = pytest.mark.django_db

URL = "/api/v1/csv_energy"
HEADER = (
    "Zählerstand (Verbraucht),Verbrauch in kWh,Zählerstand (Eingespeißt),Erzeugt in kWh,"
    "Leistung in Watt,Zeitstempel,Qualitätsflags,Qualität\n"
)


@pytest.fixture
def household() -> User:
    """A Berlin household with readings around the spring DST change (2024-03-31, 23 hours)."""
    user = UserFactory()
    sensor = SensorFactory(user=user)
    reading(sensor, utc(2024, 3, 30, 22, 59, 59, 999000), "999.9", "0.1")
    reading(sensor, utc(2024, 3, 30, 23), "1000.000000", "0", flags=4)
    reading(
        sensor,
        utc(2024, 3, 31, 1, 30, 0, 250000),
        "1000.5",
        "0.5",
        value_out=Decimal("10.250000"),
        inserted=Decimal("0.05"),
        value_current=Decimal("230.5"),
        flags=9,
    )
    reading(
        sensor,
        utc(2024, 3, 31, 21, 59, 59, 999000),
        "12345.678",
        "11345.178",
        value_out=Decimal("10.25"),
        inserted=Decimal(0),
        value_current=Decimal(-150),
    )
    reading(sensor, utc(2024, 3, 31, 22), "12346", "0.322")
    other = SensorFactory()  # another household's readings at the same times
    reading(other, utc(2024, 3, 31, 1, 30), "5", "5")
    return user


def test_local_day_across_dst_is_exported_exactly_in_utc(household: User) -> None:
    response = client_for(household).get(URL, {"start": "2024-03-31", "end": "2024-03-31"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="energy_{household.pk}_2024-03-31_2024-03-31.csv"'
    )
    assert streamed_text(response) == HEADER + (
        "1000,0,,,,2024-03-30T23:00:00.000Z,4,meter_replaced\n"
        "1000.5,0.5,10.25,0.05,230.5,2024-03-31T01:30:00.250Z,9,"
        "value_current_replaced|server_time\n"
        "12345.678,11345.178,10.25,0,-150,2024-03-31T21:59:59.999Z,0,\n"
    )


def test_local_times_carry_the_households_offsets(household: User) -> None:
    response = client_for(household).get(
        URL, {"start": "2024-03-31", "end": "2024-03-31", "tz": "local"}
    )

    stamps = [row[5] for row in csv.reader(io.StringIO(streamed_text(response)))][1:]
    assert stamps == [
        "2024-03-31T00:00:00.000+01:00",
        "2024-03-31T03:30:00.250+02:00",
        "2024-03-31T23:59:59.999+02:00",
    ]


def test_datetimes_with_offset_give_a_half_open_range(household: User) -> None:
    response = client_for(household).get(
        URL, {"start": "2024-03-31T00:00:00+01:00", "end": "2024-03-31T01:30:00.250Z"}
    )

    rows = list(csv.reader(io.StringIO(streamed_text(response))))[1:]
    assert [row[5] for row in rows] == ["2024-03-30T23:00:00.000Z"]


def test_every_row_matches_the_stored_readings_in_order() -> None:
    user = UserFactory()
    sensor = SensorFactory(user=user)
    stored = make_readings(sensor, 4500, start=utc(2024, 10, 26, 20))  # over the autumn change
    response = client_for(user).get(URL, {"start": "2024-10-26", "end": "2024-10-27"})

    rows = list(csv.DictReader(io.StringIO(streamed_text(response))))
    assert len(rows) == len(stored)
    expected = Reading.objects.filter(sensor=sensor).order_by("timestamp")
    for row, saved in zip(rows, expected, strict=True):
        assert Decimal(row["Zählerstand (Verbraucht)"]) == saved.value
        assert Decimal(row["Verbrauch in kWh"]) == saved.consumption
        assert datetime.fromisoformat(row["Zeitstempel"]) == saved.timestamp


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY needs PostgreSQL")
@pytest.mark.parametrize("zone", [None, "America/St_Johns"])
def test_copy_server_cursor_and_iterator_paths_write_identical_bytes(
    household: User, zone: str | None
) -> None:
    sensor = Sensor.objects.get(user=household)
    start, end = utc(2024, 3, 1), utc(2024, 4, 1)
    from zoneinfo import ZoneInfo

    statement, params = readings.energy_copy_statement(
        sensor_id=sensor.pk, start=start, end=end, zone_name=zone
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params) as copy:
        copied = b"".join(bytes(block) for block in copy)
    fetched = b"".join(
        readings.energy_lines_cursor(sensor_id=sensor.pk, start=start, end=end, zone_name=zone)
    )
    iterated = b"".join(
        energy_selectors._readings_iterated(sensor.pk, start, end, ZoneInfo(zone) if zone else None)
    )
    assert copied == iterated
    assert fetched == iterated
    assert copied.count(b"\n") == 5


def test_day_resolution_sums_local_days(household: User) -> None:
    sensor = Sensor.objects.get(user=household)
    for minute in (0, 15):
        ConsumptionRollup.objects.create(
            sensor=sensor,
            household_key=household.pk,
            bucket_start=utc(2024, 3, 31, 1, minute),
            consumption=Decimal("0.25"),
            inserted=Decimal("0.05"),
            readings=60,
            power_sum_w=60_000.0,
            power_count=60,
            power_max_w=1000.0 + minute,
            power_min_w=900.0,
        )
    response = client_for(household).get(
        URL, {"start": "2024-03-31", "end": "2024-03-31", "resolution": "day"}
    )

    assert streamed_text(response) == (
        "Beginn,Ende,Verbrauch in kWh,Erzeugt in kWh,Mittlere Leistung in Watt,"
        "Maximale Leistung in Watt,Messwerte\n"
        "2024-03-30T23:00:00.000Z,2024-03-31T22:00:00.000Z,0.5,0.1,1000,1015,120\n"
    )


def test_admin_reads_any_household(household: User) -> None:
    admin = StaffFactory(roles=["researcher"])
    response = client_for(admin).get(
        URL, {"start": "2024-03-31", "end": "2024-03-31", "user": household.pk}
    )

    assert response.status_code == 200
    assert streamed_text(response).count("\n") == 4


def test_admin_may_export_more_than_the_household_span(
    household: User, settings: LazySettings
) -> None:
    settings.ENERGYLEAF_EXPORT_MAX_DAYS = 1
    admin = StaffFactory(roles=["researcher"])
    response = client_for(admin).get(
        URL, {"start": "2024-01-01", "end": "2024-12-31", "user": household.pk}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday", "end": "2024-03-31"}, "start"),
        ({"start": "2024-03-31", "end": "2024-13-01"}, "end"),
        ({"start": "2024-03-31T00:00:00", "end": "2024-03-31"}, "start"),
        ({"end": "2024-03-31"}, "start"),
        ({"start": "2024-03-31", "end": "2024-03-30"}, "end"),
        ({"start": "2024-03-31T10:00:00Z", "end": "2024-03-31T10:00:00Z"}, "end"),
        ({"start": "2024-01-01", "end": "2025-01-01"}, "end"),
        ({"start": "2024-03-31", "end": "2024-03-31", "resolution": "week"}, "resolution"),
        ({"start": "2024-03-31", "end": "2024-03-31", "tz": "mars"}, "tz"),
    ],
)
def test_bad_ranges_are_400_with_a_message(
    household: User, params: dict[str, str], field: str
) -> None:
    response = client_for(household).get(URL, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["extra"]["fields"]


def test_span_limit_is_read_at_call_time(household: User, settings: LazySettings) -> None:
    settings.ENERGYLEAF_EXPORT_MAX_DAYS = 1
    response = client_for(household).get(URL, {"start": "2024-03-30", "end": "2024-03-31"})

    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["end"] == ["At most 1 days per export."]


def test_household_cannot_read_another_households_data(household: User) -> None:
    intruder = UserFactory()
    SensorFactory(user=intruder)
    foreign_sensor = Sensor.objects.get(user=household)
    client = client_for(intruder)
    params = {"start": "2024-03-31", "end": "2024-03-31"}

    by_user = client.get(URL, {**params, "user": household.pk})
    by_sensor = client.get(URL, {**params, "sensor": foreign_sensor.pk})

    assert by_user.status_code == 404
    assert by_user.json()["code"] == "household_not_found"
    assert by_sensor.status_code == 404
    assert by_sensor.json()["code"] == "sensor_not_found"


def test_unknown_household_or_missing_sensor_is_404() -> None:
    admin = StaffFactory(roles=["researcher"])
    params = {"start": "2024-03-31", "end": "2024-03-31"}

    assert client_for(admin).get(URL, {**params, "user": 999_999}).status_code == 404
    assert client_for(UserFactory()).get(URL, params).status_code == 404


def test_anonymous_is_401() -> None:
    response = APIClient().get(URL, {"start": "2024-03-31", "end": "2024-03-31"})
    assert response.status_code == 401


def test_own_user_parameter_is_allowed(household: User) -> None:
    response = client_for(household).get(
        URL, {"start": "2024-03-31", "end": "2024-03-31", "user": household.pk}
    )
    assert response.status_code == 200
