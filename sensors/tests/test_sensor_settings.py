"""Sensor settings (script, rotations, needs_script): the service, the support staff's API
operation and the admin form, which both go through `sensor_settings_update`."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from energyleaf.audit.models import AuditEvent
from energyleaf.tests.helpers import jwt_for
from energyleaf.users.services.roles import ADMINISTRATOR, RESEARCHER, SUPPORT
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from sensors.models import SCRIPT_MAX_BYTES, Sensor
from sensors.services import sensor_register, sensor_settings_update

pytestmark = pytest.mark.django_db

SCRIPT = ">D\n>B\n=>sensor53 r\n"


def _patch(user: Any, sensor_id: int, body: dict[str, Any]) -> Any:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
    return client.patch(f"/api/v1/sensors/{sensor_id}/settings", body, format="json")


@pytest.fixture
def sensor() -> Sensor:
    return sensor_register(client_id="5C:CF:7F:00:00:42", user=UserFactory())


# --- the service ----------------------------------------------------------------------------------


def test_new_script_sets_needs_script_and_is_audited(sensor: Sensor) -> None:
    actor = StaffFactory(roles=[SUPPORT])
    updated = sensor_settings_update(sensor=sensor, script=SCRIPT, actor_id=actor.pk)
    assert (updated.script, updated.needs_script) == (SCRIPT, True)
    event = AuditEvent.objects.get(title="sensor/settings-updated")
    assert event.sensor_id == sensor.pk
    assert event.user_id == actor.pk
    assert event.details["changed"] == ["script", "needs_script"]
    assert event.details["script_bytes"] == len(SCRIPT)
    assert sensor.history.count() == 2  # registration, settings


def test_explicit_flag_is_stored_as_given(sensor: Sensor) -> None:
    updated = sensor_settings_update(sensor=sensor, analog_rotations_per_kwh=75, needs_script=False)
    assert (updated.analog_rotations_per_kwh, updated.needs_script) == (75, False)


def test_nothing_changed_records_nothing(sensor: Sensor) -> None:
    sensor_settings_update(sensor=sensor, script="", needs_script=False)
    assert not AuditEvent.objects.filter(title="sensor/settings-updated").exists()
    assert sensor.history.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"script": "x" * (SCRIPT_MAX_BYTES + 1)}, "script"),
        ({"script": "ä" * 333}, "script"),  # 666 bytes in UTF-8
        ({"analog_rotations_per_kwh": 0}, "analog_rotations_per_kwh"),
        ({"script": SCRIPT, "analog_rotations_per_kwh": 75}, "script"),
    ],
)
def test_invalid_settings_are_refused_per_field(sensor: Sensor, kwargs: Any, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        sensor_settings_update(sensor=sensor, **kwargs)
    assert field in raised.value.message_dict
    sensor.refresh_from_db()
    assert (sensor.script, sensor.analog_rotations_per_kwh, sensor.needs_script) == (
        "",
        None,
        False,
    )
    assert not AuditEvent.objects.filter(title="sensor/settings-updated").exists()


# --- the API --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [SUPPORT, ADMINISTRATOR])
def test_staff_with_change_sensor_update_settings(sensor: Sensor, role: str) -> None:
    staff = StaffFactory(roles=[role])
    response = _patch(staff, sensor.pk, {"script": SCRIPT})
    assert response.status_code == 200, response.content
    assert response.json()["script"] == SCRIPT
    assert response.json()["needs_script"] is True
    event = AuditEvent.objects.get(title="sensor/settings-updated")
    assert (event.user_id, event.app_component) == (staff.pk, "api")


def test_rotations_replace_the_script(sensor: Sensor) -> None:
    staff = StaffFactory(roles=[SUPPORT])
    assert _patch(staff, sensor.pk, {"script": SCRIPT}).status_code == 200
    response = _patch(staff, sensor.pk, {"script": "", "analog_rotations_per_kwh": 96})
    assert response.status_code == 200, response.content
    sensor.refresh_from_db()
    assert (sensor.script, sensor.analog_rotations_per_kwh) == ("", 96)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"analog_rotations_per_kwh": 0}, "analog_rotations_per_kwh", "greater than or equal to 1"),
        ({"analog_rotations_per_kwh": "many"}, "analog_rotations_per_kwh", "valid integer"),
        ({"script": "x" * 700}, "script", "665"),
        ({"script": "ä" * 400}, "script", "665 bytes"),
        ({"script": SCRIPT, "analog_rotations_per_kwh": 75}, "script", "not both"),
        ({"needs_script": "perhaps"}, "needs_script", "valid boolean"),
        ({"colour": "green"}, "colour", "Unknown field"),
    ],
)
def test_invalid_input_is_answered_per_field(
    sensor: Sensor, body: dict[str, Any], field: str, words: str
) -> None:
    response = _patch(StaffFactory(roles=[SUPPORT]), sensor.pk, body)
    assert response.status_code == 400
    assert words in " ".join(response.json()["extra"]["fields"][field])
    sensor.refresh_from_db()
    assert (sensor.script, sensor.analog_rotations_per_kwh) == ("", None)


def test_empty_body_is_refused(sensor: Sensor) -> None:
    assert _patch(StaffFactory(roles=[SUPPORT]), sensor.pk, {}).status_code == 400


def test_unknown_sensor_is_404() -> None:
    assert _patch(StaffFactory(roles=[SUPPORT]), 999_999, {"needs_script": True}).status_code == 404


@pytest.mark.parametrize("caller", ["household", "owner", "researcher", "staff", "stranger"])
def test_others_are_refused_and_change_nothing(sensor: Sensor, caller: str) -> None:
    users = {
        "household": UserFactory(),
        "owner": sensor.user,
        "researcher": StaffFactory(roles=[RESEARCHER]),
        "staff": StaffFactory(),
        "stranger": None,
    }
    response = _patch(users[caller], sensor.pk, {"script": SCRIPT})
    assert response.status_code == (401 if caller == "stranger" else 403)
    sensor.refresh_from_db()
    assert (sensor.script, sensor.needs_script) == ("", False)
    assert not AuditEvent.objects.filter(title="sensor/settings-updated").exists()


def test_sensor_receives_the_new_script_on_its_next_token_request(
    sensor: Sensor, sensor_client: Any
) -> None:
    assert not sensor_client.token(sensor.client_id).HasField("script")
    assert _patch(StaffFactory(roles=[SUPPORT]), sensor.pk, {"script": SCRIPT}).status_code == 200
    assert sensor_client.token(sensor.client_id).script == SCRIPT


# --- the admin form -------------------------------------------------------------------------------


def test_admin_form_changes_settings_through_the_service(sensor: Sensor) -> None:
    from django.test import Client

    client = Client()
    client.force_login(StaffFactory(roles=[SUPPORT]))
    response = client.post(
        reverse("admin:sensors_sensor_change", args=[sensor.pk]),
        {
            "client_id": sensor.client_id,
            "sensor_type": "electricity",
            "version": 1,
            "user": sensor.user_id,
            "script": SCRIPT,
            "analog_rotations_per_kwh": "",
            "assignments-TOTAL_FORMS": "1",
            "assignments-INITIAL_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    sensor.refresh_from_db()
    # The admin stores the flag as the form gives it (unticked), as before; its text field
    # strips the script's surrounding whitespace.
    assert (sensor.script, sensor.needs_script) == (SCRIPT.strip(), False)
    event = AuditEvent.objects.get(title="sensor/settings-updated")
    assert (event.app_component, event.details["changed"]) == ("admin", ["script"])
