"""Whose data a reading is: a sensor held by household A, reset, then held by household B.

Each household sees exactly its own period's readings (CSV raw, hourly, daily), aggregates,
reports and peaks; datasets label every reading with the household that held the sensor at its
time; a rollup bucket and a detection window across the change are cut at it; deleting A keeps
its readings for the study or deletes only its own, as the admin chooses.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from analytics.models import ConsumptionRollup, Sequence
from analytics.services.assignments import sensor_reassign, sensor_reset_with_rollups
from analytics.services.detection import sequences_detect_window
from analytics.services.households import households_delete
from analytics.services.rollups import rollups_refresh
from analytics.tests.factories import readings_from_power
from energyleaf.tests.helpers import body_bytes, client_for
from energyleaf.users.models import User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from exports.services import dataset as dataset_services
from exports.services.dataset import export_job_create, export_job_run
from exports.services.pseudonyms import pseudonym, pseudonym_key
from reports.services.reports import report_generate
from sensors.models import ASSIGNMENT_ORIGIN, Reading, Sensor, SensorAssignment
from sensors.services import sensor_register
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2024, 7, 1, tzinfo=UTC)
FIRST = DAY + timedelta(hours=8)
# Mid-bucket (10:00-10:15) and mid-detection-window (10:00-10:30).
BOUNDARY = DAY + timedelta(hours=10, minutes=7, seconds=30)
LAST = DAY + timedelta(hours=12)
STEP = timedelta(minutes=1)
USED_A = Decimal("0.010000")
USED_B = Decimal("0.020000")


def add_readings(
    sensor: Sensor, start: datetime, end: datetime, used: Decimal, value: Decimal
) -> int:
    rows = []
    moment = start
    while moment < end:
        value += used
        rows.append(Reading(sensor=sensor, timestamp=moment, value=value, consumption=used))
        moment += STEP
    Reading.objects.bulk_create(rows)
    return len(rows)


@pytest.fixture
def world() -> dict[str, Any]:
    """A holds the sensor from its registration until BOUNDARY, B from then on."""
    anna, bert = UserFactory(), UserFactory()
    sensor = sensor_register(client_id="aa:bb:cc:dd:ee:01", user=anna)
    count_a = add_readings(sensor, FIRST, BOUNDARY, USED_A, Decimal(100))
    sensor_reset_with_rollups(sensor=sensor, at=BOUNDARY)
    sensor_reassign(sensor=sensor, user=bert, at=BOUNDARY)
    count_b = add_readings(sensor, BOUNDARY, LAST, USED_B, Decimal(200))
    return {"a": anna, "b": bert, "sensor": sensor, "count_a": count_a, "count_b": count_b}


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content
    text = body_bytes(response).decode()
    return list(csv.reader(io.StringIO(text)))[1:]


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_periods_follow_reset_and_reassignment(world: dict[str, Any]) -> None:
    periods = list(
        SensorAssignment.objects.filter(sensor=world["sensor"])
        .order_by("valid_from")
        .values_list("user_id", "household_key", "valid_from", "valid_to")
    )
    anna, bert = world["a"].pk, world["b"].pk
    assert periods == [
        (anna, anna, ASSIGNMENT_ORIGIN, BOUNDARY),
        (bert, bert, BOUNDARY, None),
    ]


def test_each_household_gets_only_its_own_raw_csv_rows(world: dict[str, Any]) -> None:
    params = {"sensor": world["sensor"].pk, "start": "2024-07-01", "end": "2024-07-01"}
    rows_a = csv_rows(client_for(world["a"]).get("/api/v1/csv_energy", params))
    rows_b = csv_rows(client_for(world["b"]).get("/api/v1/csv_energy", params))

    assert len(rows_a) == world["count_a"]
    assert len(rows_b) == world["count_b"]
    assert all(stamp(row[5]) < BOUNDARY and Decimal(row[1]) == USED_A for row in rows_a)
    assert all(stamp(row[5]) >= BOUNDARY and Decimal(row[1]) == USED_B for row in rows_b)


@pytest.mark.parametrize("resolution", ["hour", "day"])
@pytest.mark.parametrize("refreshed", [True, False])
def test_hourly_and_daily_csv_and_aggregates_hold_only_the_households_time(
    world: dict[str, Any], resolution: str, refreshed: bool
) -> None:
    if refreshed:
        rollups_refresh()
    for who, used in (("a", USED_A), ("b", USED_B)):
        client = client_for(world[who])
        params = {
            "sensor": world["sensor"].pk,
            "start": "2024-07-01",
            "end": "2024-07-01",
            "resolution": resolution,
        }
        rows = csv_rows(client.get("/api/v1/csv_energy", params))
        aggregates = client.get("/api/v1/aggregates", params).json()["results"]
        readings = sum(int(row[6]) for row in rows)
        if refreshed:
            assert readings == world[f"count_{who}"]
        else:  # only what the reassignment summed again (the bucket it cut), never all
            assert readings < world[f"count_{who}"]
        # Every reading counted is the household's own (A's use 0.01 kWh each, B's 0.02).
        assert sum(Decimal(row[2]) for row in rows) == used * readings
        assert sum(row["readings"] for row in aggregates) == readings
        assert sum(row["consumption_kwh"] for row in aggregates) == pytest.approx(
            float(used * readings)
        )


def test_a_rollup_bucket_across_the_change_is_cut_in_two(world: dict[str, Any]) -> None:
    rollups_refresh()
    bucket = DAY + timedelta(hours=10)
    rows = dict(
        ConsumptionRollup.objects.filter(sensor=world["sensor"], bucket_start=bucket).values_list(
            "household_key", "readings"
        )
    )
    # 10:00 … 10:07 are A's (8 readings), 10:07:30 … 10:14:30 B's (8).
    assert rows == {world["a"].pk: 8, world["b"].pk: 8}
    total = ConsumptionRollup.objects.filter(sensor=world["sensor"]).values_list(
        "household_key", "consumption"
    )
    by_household: dict[int, Decimal] = {}
    for key, used in total:
        by_household[key] = by_household.get(key, Decimal(0)) + used
    assert by_household == {
        world["a"].pk: USED_A * world["count_a"],
        world["b"].pk: USED_B * world["count_b"],
    }


@pytest.mark.parametrize("refreshed", [True, False])
def test_reports_count_only_the_households_readings(world: dict[str, Any], refreshed: bool) -> None:
    if refreshed:
        rollups_refresh()
    now = datetime(2024, 7, 2, 12, tzinfo=UTC)
    report_a = report_generate(user_id=world["a"].pk, now=now)
    report_b = report_generate(user_id=world["b"].pk, now=now)

    assert report_a.total_consumption_kwh == USED_A * world["count_a"]
    assert report_b.total_consumption_kwh == USED_B * world["count_b"]


def test_peaks_belong_to_the_household_that_held_the_sensor(world: dict[str, Any]) -> None:
    figures = {"average_power_w": 2000.0, "average_peak_power_w": 1800.0, "energy_kwh": 0.3}
    sensor = world["sensor"]
    before = Sequence.objects.create(
        sensor=sensor,
        kind="peak",
        start=DAY + timedelta(hours=9),
        end=DAY + timedelta(hours=9, minutes=10),
        **figures,
    )
    after = Sequence.objects.create(
        sensor=sensor,
        kind="peak",
        start=DAY + timedelta(hours=11),
        end=DAY + timedelta(hours=11, minutes=10),
        **figures,
    )
    params = {"start": "2024-07-01T00:00:00+00:00", "end": "2024-07-02T00:00:00+00:00"}

    peaks_a = client_for(world["a"]).get(reverse("analytics:peak-list"), params).json()
    peaks_b = client_for(world["b"]).get(reverse("analytics:peak-list"), params).json()

    assert [peak["id"] for peak in peaks_a] == [before.pk]
    assert [peak["id"] for peak in peaks_b] == [after.pk]


def dataset_rows(kind: str = "readings") -> list[list[str]]:
    job = export_job_create(requested_by=None)
    job = export_job_run(job_id=job.pk)
    assert job is not None
    assert job.status == "succeeded", job.error
    folder = dataset_services.export_job_folder(job)
    text = gzip.decompress((folder / f"{kind}.csv.gz").read_bytes()).decode()
    return list(csv.reader(io.StringIO(text)))[1:]


def test_datasets_label_every_reading_with_the_household_of_its_time(
    world: dict[str, Any],
) -> None:
    key = pseudonym_key()
    anna, bert = (
        pseudonym(key, "household", world["a"].pk),
        pseudonym(key, "household", world["b"].pk),
    )
    sensor = pseudonym(key, "sensor", world["sensor"].pk)
    Sequence.objects.create(
        sensor=world["sensor"],
        kind="peak",
        start=BOUNDARY + timedelta(minutes=30),
        end=BOUNDARY + timedelta(minutes=40),
        average_power_w=1.0,
        average_peak_power_w=1.0,
        energy_kwh=0.1,
    )

    rows = dataset_rows()
    sequences = dataset_rows("sequences")

    assert len(rows) == world["count_a"] + world["count_b"]
    for row in rows:
        assert row[1] == sensor
        assert row[0] == (anna if stamp(row[3]) < BOUNDARY else bert), row
    assert [row[0] for row in sequences] == [bert]


def test_deleting_a_household_keeping_its_readings_leaves_them_pseudonymous(
    world: dict[str, Any],
) -> None:
    rollups_refresh()
    key = pseudonym_key()
    anna = pseudonym(key, "household", world["a"].pk)
    total = Reading.objects.count()
    anna_id = world["a"].pk

    households_delete(users=[world["a"]], keep_readings=True)

    assert Reading.objects.count() == total
    period = SensorAssignment.objects.get(sensor=world["sensor"], valid_to=BOUNDARY)
    assert period.user_id is None
    assert period.household_key == anna_id
    rows = dataset_rows()
    assert sum(row[0] == anna for row in rows) == world["count_a"]
    # B still sees only its own time.
    params = {"sensor": world["sensor"].pk, "start": "2024-07-01", "end": "2024-07-01"}
    assert (
        len(csv_rows(client_for(world["b"]).get("/api/v1/csv_energy", params))) == world["count_b"]
    )


def test_deleting_a_household_with_its_readings_deletes_only_its_periods(
    world: dict[str, Any],
) -> None:
    rollups_refresh()
    Sequence.objects.create(
        sensor=world["sensor"],
        kind="peak",
        start=FIRST + timedelta(minutes=30),
        end=FIRST + timedelta(minutes=40),
        average_power_w=1.0,
        average_peak_power_w=1.0,
        energy_kwh=0.1,
    )
    anna = world["a"].pk

    households_delete(users=[world["a"]], keep_readings=False)

    assert not Reading.objects.filter(timestamp__lt=BOUNDARY).exists()
    assert Reading.objects.filter(timestamp__gte=BOUNDARY).count() == world["count_b"]
    assert not ConsumptionRollup.objects.filter(household_key=anna).exists()
    assert ConsumptionRollup.objects.filter(household_key=world["b"].pk).exists()
    assert not Sequence.objects.filter(household_key=anna).exists()
    assert not User.objects.filter(pk=anna).exists()


def test_the_admin_asks_what_happens_to_the_readings(world: dict[str, Any], client: Client) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    anna_id = world["a"].pk
    url = reverse("admin:users_user_delete", args=[anna_id])

    page = client.get(url)
    undecided = client.post(url, {"confirm": "yes"})
    assert page.status_code == 200
    assert b'value="keep"' in page.content
    assert b'value="delete"' in page.content
    assert undecided.status_code == 400
    assert User.objects.filter(pk=anna_id).exists()

    done = client.post(url, {"confirm": "yes", "readings": "keep"})
    assert done.status_code == 302
    assert not User.objects.filter(pk=anna_id).exists()
    assert Reading.objects.filter(timestamp__lt=BOUNDARY).count() == world["count_a"]
    changelist = client.get(reverse("admin:users_user_changelist"))
    assert b"delete_selected" not in changelist.content
    assert b"delete_users" in changelist.content


def test_detection_never_joins_two_households_in_one_peak() -> None:
    window = datetime(2024, 5, 6, 12, tzinfo=UTC)
    boundary = window + timedelta(minutes=10)
    load = [(window, window + timedelta(minutes=20), 2500.0)]
    shared, control = SensorFactory(), SensorFactory()
    for sensor in (shared, control):
        readings_from_power(
            sensor,
            start=window - timedelta(hours=24),
            end=window + timedelta(minutes=30),
            loads=load,
        )
    holder = shared.user
    sensor_reset_with_rollups(sensor=shared, at=boundary)
    sensor_reassign(sensor=shared, user=UserFactory(), at=boundary)

    for sensor in (shared, control):
        sequences_detect_window(
            sensor_id=sensor.pk,
            window_start=window,
            window_end=window + timedelta(minutes=30),
            kinds=["peak"],
        )

    # Without the change, one peak runs across the boundary …
    assert Sequence.objects.filter(sensor=control, start__lt=boundary, end__gt=boundary).exists()
    # … with it, the first household's peak ends before it and the new household, without 24 h
    # of its own readings, gets none (never the previous household's).
    peaks = list(Sequence.objects.filter(sensor=shared).values_list("household_key", "end"))
    assert peaks
    assert all(key == holder.pk and end < boundary for key, end in peaks)


def test_the_delete_action_deletes_only_the_chosen_households_readings(
    world: dict[str, Any], client: Client
) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:users_user_changelist")
    form = {"action": "delete_users", "_selected_action": [world["a"].pk]}

    asked = client.post(url, form)
    done = client.post(url, {**form, "confirm": "yes", "readings": "delete"})

    assert asked.status_code == 200
    assert b'value="delete"' in asked.content
    assert done.status_code == 302
    assert not Reading.objects.filter(timestamp__lt=BOUNDARY).exists()
    assert Reading.objects.count() == world["count_b"]


def test_resetting_with_deletion_deletes_only_the_current_households_readings(
    world: dict[str, Any],
) -> None:
    result = sensor_reset_with_rollups(sensor=world["sensor"], delete_readings=True)

    assert result.readings_deleted == world["count_b"]
    assert Reading.objects.count() == world["count_a"]
    assert not Reading.objects.filter(timestamp__gte=BOUNDARY).exists()


def test_resetting_with_deletion_takes_the_rollups_and_peaks_of_the_deleted_readings_along(
    world: dict[str, Any],
) -> None:
    sensor = world["sensor"]
    anna, bert = world["a"].pk, world["b"].pk
    rollups_refresh()
    for start in (FIRST + timedelta(minutes=30), BOUNDARY + timedelta(minutes=30)):
        Sequence.objects.create(
            sensor=sensor,
            kind=Sequence.Kind.PEAK,
            start=start,
            end=start + timedelta(minutes=5),
            average_power_w=900.0,
            average_peak_power_w=700.0,
            energy_kwh=0.075,
        )
    assert set(ConsumptionRollup.objects.values_list("household_key", flat=True)) == {anna, bert}

    result = sensor_reset_with_rollups(sensor=sensor, delete_readings=True)

    assert result.deleted_from == BOUNDARY
    assert result.deleted_to == BOUNDARY + (world["count_b"] - 1) * STEP
    # A's time is summed and detected as before; nothing derived from B's deleted readings stays.
    rollups = list(ConsumptionRollup.objects.values_list("household_key", "readings"))
    assert {key for key, _ in rollups} == {anna}
    assert sum(readings for _, readings in rollups) == world["count_a"]
    assert list(Sequence.objects.values_list("household_key", flat=True)) == [anna]


def test_admins_see_a_households_time_or_the_sensors_current_household(
    world: dict[str, Any],
) -> None:
    rollups_refresh()
    admin = client_for(StaffFactory(roles=["researcher"]))
    day = {"sensor": world["sensor"].pk, "start": "2024-07-01", "end": "2024-07-01"}
    for extra, who, used in (({"user": world["a"].pk}, "a", USED_A), ({}, "b", USED_B)):
        params = {**day, **extra, "resolution": "day"}
        aggregates = admin.get("/api/v1/aggregates", params).json()["results"]
        rows = csv_rows(admin.get("/api/v1/csv_energy", params))
        expected = float(used * world[f"count_{who}"])
        assert sum(row["consumption_kwh"] for row in aggregates) == pytest.approx(expected)
        assert sum(float(row[2]) for row in rows) == pytest.approx(expected)


def test_a_change_cannot_be_dated_before_the_open_period(world: dict[str, Any]) -> None:
    before = list(SensorAssignment.objects.order_by("pk").values_list("valid_from", "valid_to"))

    with pytest.raises(ValidationError):
        sensor_reset_with_rollups(sensor=world["sensor"], at=BOUNDARY - timedelta(seconds=1))

    assert (
        list(SensorAssignment.objects.order_by("pk").values_list("valid_from", "valid_to"))
        == before
    )
    world["sensor"].refresh_from_db()
    assert world["sensor"].user == world["b"]


def test_rollups_already_summed_follow_a_later_change_of_household() -> None:
    anna, bert = UserFactory(), UserFactory()
    sensor = SensorFactory(user=anna)
    bucket = DAY + timedelta(hours=10)
    add_readings(sensor, bucket, bucket + timedelta(minutes=15), USED_A, Decimal(1))
    rollups_refresh()
    assert dict(ConsumptionRollup.objects.values_list("household_key", "readings")) == {anna.pk: 15}

    sensor_reset_with_rollups(sensor=sensor, at=BOUNDARY)
    nobody = dict(ConsumptionRollup.objects.values_list("household_key", "readings"))
    sensor_reassign(sensor=sensor, user=bert, at=BOUNDARY)
    moved = dict(ConsumptionRollup.objects.values_list("household_key", "readings"))

    # 10:00 … 10:07 stay A's; 10:08 … 10:14 are nobody's, then B's.
    assert nobody == {anna.pk: 8, 0: 7}
    assert moved == {anna.pk: 8, bert.pk: 7}


def _sensor_form(sensor: Sensor, user: User | None) -> dict[str, Any]:
    return {
        "client_id": sensor.client_id,
        "sensor_type": "electricity",
        "version": 1,
        "user": user.pk if user is not None else "",
        "script": "",
        "analog_rotations_per_kwh": "",
        # The read-only inline of assignment periods.
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
    }


def test_the_admin_change_form_moves_the_rollups_with_the_sensor(client: Client) -> None:
    """The admin's change form goes through the analytics service: periods and rollups follow."""
    anna, bert = UserFactory(), UserFactory()
    sensor = SensorFactory(user=anna)
    now = datetime.now(UTC)
    add_readings(sensor, now - timedelta(minutes=5), now + timedelta(minutes=5), USED_A, Decimal(1))
    rollups_refresh()
    assert set(ConsumptionRollup.objects.values_list("household_key", flat=True)) == {anna.pk}
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:sensors_sensor_change", args=[sensor.pk]), _sensor_form(sensor, bert)
    )

    assert response.status_code == 302, response.content[:2000]
    sensor.refresh_from_db()
    assert sensor.user == bert
    assert list(
        SensorAssignment.objects.filter(sensor=sensor)
        .order_by("valid_from")
        .values_list("user_id", flat=True)
    ) == [anna.pk, bert.pk]
    # The readings after the change are summed for B now, without waiting for a refresh.
    assert bert.pk in set(ConsumptionRollup.objects.values_list("household_key", flat=True))


def test_a_sensor_added_in_the_admin_gets_its_first_period(client: Client) -> None:
    anna = UserFactory()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = _sensor_form(Sensor(client_id="AA:BB:CC:DD:EE:42"), anna)

    response = client.post(reverse("admin:sensors_sensor_add"), form)

    assert response.status_code == 302, response.content[:2000]
    sensor = Sensor.objects.get(client_id="AA:BB:CC:DD:EE:42")
    assert sensor.user == anna
    assert list(
        SensorAssignment.objects.filter(sensor=sensor).values_list(
            "user_id", "valid_from", "valid_to"
        )
    ) == [(anna.pk, ASSIGNMENT_ORIGIN, None)]
