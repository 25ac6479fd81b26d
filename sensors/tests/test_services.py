from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from energyleaf.audit.models import AuditEvent
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, Sensor, SensorAssignment, SensorToken
from sensors.services import sensor_assign, sensor_register, sensor_reset, sensor_tokens_revoke
from sensors.tests.factories import SensorFactory, make_readings

pytestmark = pytest.mark.django_db


def _token(sensor: Sensor, suffix: str) -> SensorToken:
    now = timezone.now()
    return SensorToken.objects.create(
        sensor=sensor,
        token_hash=suffix.rjust(64, "0"),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
        issued_for_user_id=sensor.user_id,
    )


def test_register_stores_upper_case_mac_and_needs_script_with_script():
    user = UserFactory()
    sensor = sensor_register(client_id="aa:bb:cc:dd:ee:ff", user=user, script=">D\n>B\n")
    assert sensor.client_id == "AA:BB:CC:DD:EE:FF"
    assert sensor.needs_script is True
    assert AuditEvent.objects.filter(title="sensor/registered", sensor_id=sensor.pk).exists()


@pytest.mark.parametrize("other_case", ["aa:bb:cc:dd:ee:ff", "AA:bb:CC:dd:EE:ff"])
def test_register_refuses_duplicate_mac_in_any_case(other_case):
    sensor_register(client_id="AA:BB:CC:DD:EE:FF", user=None)
    with pytest.raises(ValidationError):
        sensor_register(client_id=other_case, user=None)
    assert Sensor.objects.count() == 1


@pytest.mark.parametrize("bad_mac", ["", "AA:BB:CC:DD:EE", "GG:BB:CC:DD:EE:FF", "AABBCCDDEEF"])
def test_register_refuses_invalid_mac(bad_mac):
    with pytest.raises(ValidationError):
        sensor_register(client_id=bad_mac, user=None)
    assert Sensor.objects.count() == 0


def test_register_refuses_script_over_665_bytes():
    with pytest.raises(ValidationError):
        sensor_register(client_id="AA:BB:CC:DD:EE:01", user=None, script="ä" * 333)
    assert Sensor.objects.count() == 0


def test_register_refuses_second_electricity_sensor_for_a_household():
    user = UserFactory()
    sensor_register(client_id="AA:BB:CC:DD:EE:01", user=user)
    with pytest.raises(ValidationError):
        sensor_register(client_id="AA:BB:CC:DD:EE:02", user=user)
    sensor_register(client_id="AA:BB:CC:DD:EE:03", user=user, sensor_type="gas")
    assert user.sensors.count() == 2


def test_reset_unassigns_revokes_tokens_and_keeps_readings():
    sensor = SensorFactory()
    _token(sensor, "1")
    _token(sensor, "2")
    make_readings(sensor, 10)
    result = sensor_reset(sensor=sensor)
    sensor.refresh_from_db()
    assert sensor.user is None
    assert sensor.needs_script is True
    assert result.tokens_revoked == 2
    assert result.readings_deleted == 0
    assert SensorToken.objects.count() == 0
    assert Reading.objects.filter(sensor=sensor).count() == 10


def test_reset_deletes_readings_only_when_asked():
    sensor = SensorFactory()
    make_readings(sensor, 10)
    other = SensorFactory()
    make_readings(other, 3)
    result = sensor_reset(sensor=sensor, delete_readings=True)
    assert result.readings_deleted == 10
    assert Reading.objects.filter(sensor=other).count() == 3


def test_assign_to_another_household_revokes_tokens():
    sensor = SensorFactory()
    _token(sensor, "1")
    new_user = UserFactory()
    sensor_assign(sensor=sensor, user=new_user)
    sensor.refresh_from_db()
    assert sensor.user == new_user
    assert not SensorToken.objects.filter(sensor=sensor).exists()


def test_revoke_tokens_only_touches_given_sensors():
    first, second = SensorFactory(), SensorFactory()
    _token(first, "1")
    _token(second, "2")
    assert sensor_tokens_revoke(sensor_ids=[first.pk]) == 1
    assert SensorToken.objects.filter(sensor=second).count() == 1


def test_sensor_history_records_changes():
    sensor = SensorFactory()
    sensor_reset(sensor=sensor)
    assert [h.history_type for h in sensor.history.order_by("history_date")] == ["+", "~"]
    assert sensor.history.first().user_id is None


def test_the_database_refuses_deleting_a_household_that_still_holds_a_sensor() -> None:
    """Deleting a user outside `households_delete` would leave the sensor's open period without a
    household, and the sensor's later readings labelled with the deleted one."""
    user = UserFactory()
    sensor = sensor_register(client_id="aa:bb:cc:00:00:99", user=user)

    with pytest.raises(IntegrityError), transaction.atomic():
        user.delete()

    assert SensorAssignment.objects.get(sensor=sensor, valid_to__isnull=True).user_id == user.pk
