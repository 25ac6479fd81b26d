"""One MAC, one sensor: every spelling of a MAC address finds and blocks the same sensor."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from energyleaf.users.tests.factories import UserFactory
from sensors.compute.mac import InvalidMacError, canonical_mac
from sensors.models import Sensor
from sensors.services import sensor_register

SPELLINGS = [
    "AA:BB:CC:DD:EE:02",
    "aa:bb:cc:dd:ee:02",
    "aa-bb-cc-dd-ee-02",
    "AA-bb-CC-dd-EE-02",
    "aabb.ccdd.ee02",
    "AABB.CCDD.EE02",
    "aabbccddee02",
    "  AABBCCDDEE02\n",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_maps_to_the_canonical_form(spelling: str) -> None:
    assert canonical_mac(spelling) == "AA:BB:CC:DD:EE:02"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-mac",
        "AA:BB:CC:DD:EE",
        "AA:BB:CC:DD:EE:02:03",
        "AA:BB-CC:DD:EE:02",  # mixed separators
        "GG:BB:CC:DD:EE:02",
        "AABBCCDDEE0",
        "AA BB CC DD EE 02",
        "aabb.ccdd-ee02",
        "AA:BB:CC:DD:EE:0\uff12",  # a full-width digit is no hex digit
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidMacError):
        canonical_mac(text)


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_register_stores_canonical_and_refuses_every_other_spelling(spelling: str) -> None:
    sensor = sensor_register(client_id=spelling, user=UserFactory())
    assert sensor.client_id == "AA:BB:CC:DD:EE:02"
    for other in SPELLINGS:
        with pytest.raises(ValidationError, match="exists already"):
            sensor_register(client_id=other, user=UserFactory())
    assert Sensor.objects.count() == 1


@pytest.mark.django_db
def test_register_sensor_command_refuses_the_dashed_spelling_of_an_existing_mac() -> None:
    UserFactory(email="a@example.org")
    UserFactory(email="b@example.org")
    out = StringIO()
    call_command(
        "register_sensor", "--client-id", "AA:BB:CC:DD:EE:02", "--user", "a@example.org", stdout=out
    )
    with pytest.raises(CommandError, match="exists already"):
        call_command(
            "register_sensor", "--client-id", "aa-bb-cc-dd-ee-02", "--user", "b@example.org"
        )
    assert list(Sensor.objects.values_list("client_id", flat=True)) == ["AA:BB:CC:DD:EE:02"]


@pytest.mark.django_db
def test_admin_add_form_stores_canonical_and_refuses_another_spelling(client, admin_user) -> None:
    client.force_login(admin_user)
    url = reverse("admin:sensors_sensor_add")
    form = {
        "sensor_type": "electricity",
        "version": "1",
        "script": "",
        # The read-only inline of assignment periods (none on a new sensor).
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
    }
    response = client.post(url, {**form, "client_id": "aabb.ccdd.ee02"})
    assert response.status_code == 302, response.content[:2000]
    assert list(Sensor.objects.values_list("client_id", flat=True)) == ["AA:BB:CC:DD:EE:02"]
    response = client.post(url, {**form, "client_id": "aa-bb-cc-dd-ee-02"})
    assert response.status_code == 200
    assert Sensor.objects.count() == 1
    response = client.post(url, {**form, "client_id": "zz-bb-cc-dd-ee-02"})
    assert response.status_code == 200
    assert b"Enter a MAC address" in response.content
    assert Sensor.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_token_endpoint_finds_the_sensor_by_any_spelling(sensor_client, spelling: str) -> None:
    sensor = sensor_register(client_id="AA:BB:CC:DD:EE:02", user=UserFactory())
    message = sensor_client.token(spelling)
    assert message.status == 200
    assert sensor.tokens.count() == 1


@pytest.mark.django_db
def test_token_endpoint_answers_not_found_for_text_that_is_no_mac(sensor_client) -> None:
    sensor_register(client_id="AA:BB:CC:DD:EE:02", user=UserFactory())
    message = sensor_client.token("AA:BB:CC:DD:EE:02:")
    assert (message.status, message.status_message) == (404, "Sensor not found")


def _migration():  # type: ignore[no-untyped-def]
    return importlib.import_module("sensors.migrations.0005_canonical_mac_addresses")


def _raw_sensor(client_id: str) -> int:
    """A row written as the old code allowed (no canonicalisation), straight in SQL."""
    table = Sensor._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (client_id, sensor_type, version, user_id, needs_script, script, "  # noqa: S608
            "created_at, updated_at) VALUES (%s, 'electricity', 1, NULL, false, '', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            [client_id],
        )
    return Sensor.objects.get(client_id=client_id).pk


@pytest.mark.django_db
def test_migration_canonicalises_existing_rows() -> None:
    first = _raw_sensor("aa-bb-cc-dd-ee-01")
    second = _raw_sensor("aabb.ccdd.ee02")
    third = _raw_sensor("AA:BB:CC:DD:EE:03")
    _migration().canonicalise_client_ids(apps, None)
    assert dict(Sensor.objects.values_list("pk", "client_id")) == {
        first: "AA:BB:CC:DD:EE:01",
        second: "AA:BB:CC:DD:EE:02",
        third: "AA:BB:CC:DD:EE:03",
    }


@pytest.mark.django_db
def test_migration_stops_on_colliding_spellings_naming_the_ids_and_changes_nothing() -> None:
    colon = _raw_sensor("AA:BB:CC:DD:EE:02")
    dashed = _raw_sensor("aa-bb-cc-dd-ee-02")
    other = _raw_sensor("aa-bb-cc-dd-ee-03")
    migration = _migration()
    with pytest.raises(migration.MacCollisionError) as caught:
        migration.canonicalise_client_ids(apps, None)
    text = str(caught.value)
    assert f"AA:BB:CC:DD:EE:02: sensor ids {colon} ('AA:BB:CC:DD:EE:02'), {dashed}" in text
    assert "EE:03" not in text
    assert Sensor.objects.get(pk=other).client_id == "aa-bb-cc-dd-ee-03"
    assert Sensor.objects.get(pk=dashed).client_id == "aa-bb-cc-dd-ee-02"
