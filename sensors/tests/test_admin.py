"""Admin smoke tests with query budgets that do not grow with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from energyleaf.audit.services import audit_event_record
from energyleaf.tests.helpers import get_counting_queries
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, Sensor, SensorToken
from sensors.tests.factories import SensorFactory, make_readings

pytestmark = pytest.mark.django_db


def _add_data(sensors: int, readings_each: int) -> None:
    for _ in range(sensors):
        sensor = SensorFactory()
        make_readings(sensor, readings_each)
        SensorToken.objects.create(
            sensor=sensor,
            token_hash=f"{sensor.pk:064d}",
            issued_at=timezone.now(),
            expires_at=timezone.now() + timedelta(hours=1),
        )
        audit_event_record(title="sensor/token-sent", app_function="t", sensor_id=sensor.pk)


CHANGELISTS = [
    "admin:users_user_changelist",
    "admin:users_household_changelist",
    "admin:users_experimentparticipation_changelist",
    "admin:sensors_sensor_changelist",
    "admin:sensors_sensortoken_changelist",
    "admin:sensors_reading_changelist",
    "admin:sensors_rejectedreading_changelist",
    "admin:sensors_meterevent_changelist",
    "admin:audit_auditevent_changelist",
]


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_changelist_query_count_does_not_grow_with_rows(admin_client_logged_in, url_name):
    _add_data(sensors=2, readings_each=20)
    small, _ = get_counting_queries(admin_client_logged_in, reverse(url_name))
    _add_data(sensors=6, readings_each=200)
    large, _ = get_counting_queries(admin_client_logged_in, reverse(url_name))
    assert large == small
    assert large <= 12


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_changelist_search(admin_client_logged_in, url_name):
    _add_data(sensors=2, readings_each=5)
    count, _ = get_counting_queries(
        admin_client_logged_in, reverse(url_name), q="AA:BB:CC:00:00:01"
    )
    assert count <= 12


def test_reading_changelist_filters_by_sensor_search_and_date(admin_client_logged_in):
    first, second = SensorFactory(), SensorFactory()
    make_readings(first, 5)
    make_readings(second, 7)
    url = reverse("admin:sensors_reading_changelist")
    response = admin_client_logged_in.get(url, {"q": first.client_id.lower()})
    assert response.context["cl"].result_count == 5
    response = admin_client_logged_in.get(
        url,
        {
            "timestamp__gte": "2024-07-01 00:00:00+00:00",
            "timestamp__lt": "2024-07-02 00:00:00+00:00",
        },
    )
    assert response.context["cl"].result_count == 12


def test_readings_are_read_only(admin_client_logged_in):
    sensor = SensorFactory()
    reading = make_readings(sensor, 1)[0]
    reading = Reading.objects.get(sensor=sensor)
    assert admin_client_logged_in.get(reverse("admin:sensors_reading_add")).status_code == 403
    change = admin_client_logged_in.get(reverse("admin:sensors_reading_change", args=[reading.pk]))
    assert change.status_code == 200
    assert b'name="value"' not in change.content  # shown, not editable
    response = admin_client_logged_in.post(
        reverse("admin:sensors_reading_change", args=[reading.pk]), {"value": "1"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "url_name",
    ["admin:users_user_change", "admin:sensors_sensor_change", "admin:users_household_change"],
)
def test_change_pages_render(admin_client_logged_in, url_name):
    sensor = SensorFactory()
    obj = {
        "admin:users_user_change": sensor.user,
        "admin:sensors_sensor_change": sensor,
        "admin:users_household_change": sensor.user.household,
    }[url_name]
    response = admin_client_logged_in.get(reverse(url_name, args=[obj.pk]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url_name",
    ["admin:users_user_add", "admin:sensors_sensor_add", "admin:users_household_add"],
)
def test_add_pages_render(admin_client_logged_in, url_name):
    assert admin_client_logged_in.get(reverse(url_name)).status_code == 200


def test_sensor_changelist_shows_last_reading(admin_client_logged_in):
    sensor = SensorFactory()
    make_readings(sensor, 4)  # last value 1000.03 at 00:00:45
    response = admin_client_logged_in.get(reverse("admin:sensors_sensor_changelist"))
    assert b"1000.0300" in response.content  # a register: 4 decimals
    assert b"1000.030000" not in response.content


def test_reset_action_asks_for_confirmation_then_resets(admin_client_logged_in):
    sensor = SensorFactory()
    make_readings(sensor, 3)
    url = reverse("admin:sensors_sensor_changelist")
    form = {"action": "reset_sensors", "_selected_action": [sensor.pk]}
    confirmation = admin_client_logged_in.post(url, form)
    assert confirmation.status_code == 200
    assert (
        b"Also delete the readings of the household that holds each sensor now"
        in confirmation.content
    )
    sensor.refresh_from_db()
    assert sensor.user is not None  # nothing happened yet

    done = admin_client_logged_in.post(url, {**form, "confirm": "yes"}, follow=True)
    assert done.status_code == 200
    sensor.refresh_from_db()
    assert sensor.user is None
    assert sensor.needs_script
    assert Reading.objects.filter(sensor=sensor).count() == 3


def test_reset_action_deletes_readings_when_ticked(admin_client_logged_in):
    sensor = SensorFactory()
    make_readings(sensor, 3)
    admin_client_logged_in.post(
        reverse("admin:sensors_sensor_changelist"),
        {
            "action": "reset_sensors",
            "_selected_action": [sensor.pk],
            "confirm": "yes",
            "delete_readings": "on",
        },
    )
    assert not Reading.objects.filter(sensor=sensor).exists()


def test_assigning_in_admin_revokes_tokens(admin_client_logged_in):
    sensor = SensorFactory()
    first_user = sensor.user
    SensorToken.objects.create(
        sensor=sensor,
        token_hash="f" * 64,
        issued_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    other = UserFactory()
    response = admin_client_logged_in.post(
        reverse("admin:sensors_sensor_change", args=[sensor.pk]),
        {
            "client_id": sensor.client_id,
            "sensor_type": "electricity",
            "version": 1,
            "user": other.pk,
            "script": "",
            "analog_rotations_per_kwh": "",
            # The read-only inline of assignment periods.
            "assignments-TOTAL_FORMS": "1",
            "assignments-INITIAL_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    sensor.refresh_from_db()
    assert sensor.user == other
    assert not SensorToken.objects.filter(sensor=sensor).exists()
    periods = list(sensor.assignments.order_by("valid_from").values_list("user_id", "valid_to"))
    assert [user_id for user_id, _ in periods] == [first_user.pk, other.pk]
    assert periods[0][1] is not None
    assert periods[1][1] is None


def test_user_actions_activate_deactivate_promote(admin_client_logged_in):
    user = UserFactory(is_active=False)
    url = reverse("admin:users_user_changelist")
    for action in ("activate", "promote_to_admin"):
        admin_client_logged_in.post(url, {"action": action, "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.is_active
    assert user.is_staff
    assert user.activation_date is not None
    admin_client_logged_in.post(url, {"action": "deactivate", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert not user.is_active


def test_user_autocomplete_for_sensor_assignment(admin_client_logged_in):
    UserFactory(email="findme@example.org")
    response = admin_client_logged_in.get(
        reverse("admin:autocomplete"),
        {
            "term": "findme",
            "app_label": "sensors",
            "model_name": "sensor",
            "field_name": "user",
        },
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["text"] == "findme@example.org"


def test_households_cannot_open_the_admin(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get(reverse("admin:sensors_sensor_changelist"))
    assert response.status_code == 302
    assert Sensor.objects.count() == 0


def test_revoke_selected_tokens(admin_client_logged_in):
    sensor = SensorFactory()
    keep, drop = (
        SensorToken.objects.create(
            sensor=sensor,
            token_hash=str(i) * 64,
            issued_at=timezone.now(),
            expires_at=timezone.now() + timedelta(hours=1),
        )
        for i in (1, 2)
    )
    admin_client_logged_in.post(
        reverse("admin:sensors_sensortoken_changelist"),
        {"action": "revoke", "_selected_action": [drop.pk]},
    )
    assert list(SensorToken.objects.values_list("pk", flat=True)) == [keep.pk]
