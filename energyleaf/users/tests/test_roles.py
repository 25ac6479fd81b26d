"""The role groups and the rules of the user admin that the permission matrix does not spell
out (fields only superusers edit, the support role's sensor work)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from energyleaf.users.models import User
from energyleaf.users.services import roles
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from sensors.models import Reading, Sensor
from sensors.services import sensor_register
from sensors.tests.factories import make_readings

pytestmark = pytest.mark.django_db


def _codes(group: Group) -> set[str]:
    return {
        f"{app}.{code}"
        for app, code in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_role_groups_hold_their_definitions() -> None:
    administrator = Group.objects.get(name=roles.ADMINISTRATOR)
    assert _codes(administrator) == {
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    for name in (roles.RESEARCHER, roles.SUPPORT):
        assert _codes(Group.objects.get(name=name)) == set(roles.ROLE_PERMISSIONS[name])
    assert "users.deactivate_user" not in roles.ROLE_PERMISSIONS[roles.RESEARCHER]
    assert not any(p.startswith("exports.") for p in roles.ROLE_PERMISSIONS[roles.SUPPORT])


def test_the_migration_creates_the_groups_from_scratch() -> None:
    migration = importlib.import_module("energyleaf.users.migrations.0004_role_groups")
    Group.objects.filter(name__in=list(migration.ROLES)).delete()

    # The data migration uses only the editor's connection, and the models as they were when it
    # ran (the status transitions have moved from reports to users since).
    historical = MigrationLoader(connection).project_state(("users", "0004_role_groups")).apps
    migration.create_role_groups(historical, SimpleNamespace(connection=connection))

    assert set(Group.objects.values_list("name", flat=True)) >= set(migration.ROLES)
    assert _codes(Group.objects.get(name="support")) == set(migration.ROLES["support"])
    assert Group.objects.get(name="administrator").permissions.count() == Permission.objects.count()


def test_roles_ensure_recreates_missing_groups_and_completes_the_administrator() -> None:
    Group.objects.filter(name=roles.RESEARCHER).delete()
    support = Group.objects.get(name=roles.SUPPORT)
    support.permissions.remove(Permission.objects.get(codename="reset_sensor"))
    content_type = ContentType.objects.get_for_model(Sensor)
    new = Permission.objects.create(
        codename="calibrate_sensor", name="Can calibrate", content_type=content_type
    )

    roles.roles_ensure(group_model=Group, permission_model=Permission)

    assert _codes(Group.objects.get(name=roles.RESEARCHER)) == set(
        roles.ROLE_PERMISSIONS[roles.RESEARCHER]
    )
    assert Group.objects.get(name=roles.ADMINISTRATOR).permissions.filter(pk=new.pk).exists()
    # An operator's change of an existing role stays.
    assert "sensors.reset_sensor" not in _codes(Group.objects.get(name=roles.SUPPORT))


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _change_form(user: User) -> dict[str, str]:
    return {
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": "",
        "address": "",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "date_joined_0": "2024-07-01",
        "date_joined_1": "10:00:00",
        "household-TOTAL_FORMS": "0",
        "household-INITIAL_FORMS": "0",
        "experiment_participation-TOTAL_FORMS": "0",
        "experiment_participation-INITIAL_FORMS": "0",
    }


def test_only_superusers_make_superusers_through_the_change_form() -> None:
    administrator = StaffFactory(roles=[roles.ADMINISTRATOR])
    target = UserFactory(household=None)
    url = reverse("admin:users_user_change", args=(target.pk,))

    page = _client(administrator).get(url)
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode()
    _client(administrator).post(url, _change_form(target))
    target.refresh_from_db()
    assert not target.is_superuser

    superuser = UserFactory(is_staff=True, is_superuser=True, household=None)
    assert 'name="is_superuser"' in _client(superuser).get(url).content.decode()


def test_a_superusers_account_is_read_only_for_administrators() -> None:
    administrator = StaffFactory(roles=[roles.ADMINISTRATOR])
    superuser = UserFactory(is_staff=True, is_superuser=True, household=None)
    client = _client(administrator)

    page = client.get(reverse("admin:users_user_change", args=(superuser.pk,)))
    assert page.status_code == 200  # viewing is fine
    assert 'name="email"' not in page.content.decode()
    response = client.post(
        reverse("admin:users_user_changelist"),
        {"action": "deactivate", "_selected_action": [superuser.pk, administrator.pk]},
        follow=True,
    )
    refusal = "Only superusers may activate, deactivate or delete a superuser"
    assert refusal in response.content.decode()
    superuser.refresh_from_db()
    administrator.refresh_from_db()
    assert superuser.is_active
    assert administrator.is_active


def test_support_resets_a_sensor_but_may_not_delete_its_readings() -> None:
    household = UserFactory()
    sensor = sensor_register(client_id="C0:FF:EE:00:00:01", user=household)
    make_readings(sensor, 5)
    client = _client(StaffFactory(roles=[roles.SUPPORT]))
    url = reverse("admin:sensors_sensor_changelist")

    page = client.post(url, {"action": "reset_sensors", "_selected_action": [sensor.pk]})
    assert page.status_code == 200
    assert "delete_readings" not in page.content.decode()

    refused = client.post(
        url,
        {
            "action": "reset_sensors",
            "_selected_action": [sensor.pk],
            "confirm": "yes",
            "delete_readings": "on",
        },
        follow=True,
    )
    assert "You may not delete readings; nothing was reset." in refused.content.decode()
    sensor.refresh_from_db()
    assert sensor.user_id == household.pk
    assert Reading.objects.filter(sensor=sensor).count() == 5

    client.post(url, {"action": "reset_sensors", "_selected_action": [sensor.pk], "confirm": "yes"})
    sensor.refresh_from_db()
    assert sensor.user_id is None
    assert Reading.objects.filter(sensor=sensor).count() == 5
