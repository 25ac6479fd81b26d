from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from energyleaf.users.models import ExperimentParticipation, Household, User
from energyleaf.users.services import household_arm_set, household_update, user_create

pytestmark = pytest.mark.django_db


def test_user_logs_in_with_lower_cased_email():
    user = User.objects.create_user(email="Anna.Example@Example.ORG", password="pw-123456!")
    assert user.email == "anna.example@example.org"
    assert user.check_password("pw-123456!")
    assert User.USERNAME_FIELD == "email"


def test_email_is_unique_in_any_letter_case():
    User.objects.create_user(email="a@example.org")
    with pytest.raises(ValidationError):
        User.objects.create_user(email="A@EXAMPLE.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="A@example.org")  # bypasses the manager; the DB still refuses
    assert User.objects.count() == 1


def test_usernames_are_display_names_and_may_repeat():
    User.objects.create_user(email="a@example.org", username="Sam")
    User.objects.create_user(email="b@example.org", username="Sam")
    assert User.objects.filter(username="Sam").count() == 2


def test_superuser_is_staff():
    admin = User.objects.create_superuser(email="root@example.org", password="x-pass-123!")
    assert admin.is_staff
    assert admin.is_superuser


def test_user_create_makes_household_with_berlin_default():
    user = user_create(email="h@example.org", is_participant=True)
    household = Household.objects.get(user=user)
    assert household.time_zone == "Europe/Berlin"
    assert household.app_version == Household.AppVersion.TRANSPARENCY
    assert household.receive_anomaly_mails is True
    assert user.experiment.status == ExperimentParticipation.Status.REGISTERED


def test_household_rejects_unknown_time_zone_and_writes_nothing():
    user = user_create(email="h@example.org")
    with pytest.raises(ValidationError):
        household_update(user=user, data={"time_zone": "Mars/Olympus"})
    assert Household.objects.get(user=user).time_zone == "Europe/Berlin"


def test_household_rejects_negative_price():
    user = user_create(email="h@example.org")
    with pytest.raises(ValidationError):
        household_update(user=user, data={"working_price_per_kwh": "-0.1"})


def test_household_update_refuses_fields_outside_the_editable_set():
    user = user_create(email="h@example.org")
    with pytest.raises(ValueError, match="not editable"):
        household_update(user=user, data={"user_id": 99})


def test_experiment_installation_needs_date():
    user = user_create(email="p@example.org", is_participant=True)
    participation = user.experiment
    participation.status = ExperimentParticipation.Status.INSTALLATION
    with pytest.raises(ValidationError):
        participation.full_clean()


def test_history_keeps_every_household_change():
    user = user_create(email="h@example.org")
    household_update(user=user, data={"working_price_per_kwh": "0.3100", "household_size": 3})
    household_update(user=user, data={"working_price_per_kwh": "0.3500"})
    history = list(user.household.history.order_by("history_date"))
    assert [str(h.working_price_per_kwh) for h in history] == ["None", "0.3100", "0.3500"]
    assert [h.history_type for h in history] == ["+", "~", "~"]


def test_user_history_never_stores_password():
    user = user_create(email="h@example.org", password="first-pass-123!")
    user.first_name = "Changed"
    user.save(update_fields=["first_name"])
    historical_fields = {f.name for f in user.history.model._meta.get_fields()}
    assert "password" not in historical_fields
    assert user.history.count() == 2
    assert user.history.first().first_name == "Changed"


def test_staff_put_a_household_into_a_study_arm_with_history() -> None:
    user = user_create(email="arm@example.org", password="pw-arm-123456")
    household = household_arm_set(user=user, app_version=Household.AppVersion.SUPPORT)

    assert Household.objects.get(user=user).app_version == Household.AppVersion.SUPPORT
    assert household.history.first().app_version == Household.AppVersion.SUPPORT
    with pytest.raises(ValidationError):
        household_arm_set(user=user, app_version=7)
    assert Household.objects.get(user=user).app_version == Household.AppVersion.SUPPORT


def test_a_household_cannot_choose_its_arm_through_its_data() -> None:
    user = user_create(email="arm2@example.org", password="pw-arm-123456")
    with pytest.raises(ValueError, match="app_version"):
        household_update(user=user, data={"app_version": Household.AppVersion.SUPPORT})
