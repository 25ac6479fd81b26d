"""A household changes its own data and settings: PATCH /api/v1/me."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from energyleaf.users.models import Household, User
from energyleaf.users.tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def patch(user: User, household: Any) -> Any:
    return client_for(user).patch(
        reverse("users:me-retrieve"), {"household": household}, format="json"
    )


def test_every_field_of_the_household_can_be_changed_and_is_answered() -> None:
    user = UserFactory()
    changes = {
        "tariff": "eco",
        "base_price_per_month": 12.5,
        "working_price_per_kwh": 0.3125,
        "advance_payment_per_month": 80,
        "household_size": 3,
        "property_type": "apartment",
        "living_space_m2": 72,
        "hot_water": "electric",
        "daily_consumption_goal_kwh": 6.5,
        "meter_number": "1ESY1160",
        "meter_type": "digital",
        "time_zone": "America/New_York",
        "language": "en",
        "receive_anomaly_mails": False,
    }

    response = patch(user, changes)

    assert response.status_code == 200, response.content
    answered = response.json()["household"]
    assert {key: answered[key] for key in changes} == changes
    stored = Household.objects.get(user=user)
    assert stored.working_price_per_kwh == Decimal("0.3125")
    assert stored.time_zone == "America/New_York"
    assert stored.receive_anomaly_mails is False


def test_a_change_is_kept_in_the_history_with_the_household_as_author() -> None:
    user = UserFactory()
    household = Household.objects.get(user=user)
    before = household.history.count()

    assert patch(user, {"working_price_per_kwh": 0.35}).status_code == 200
    assert patch(user, {"working_price_per_kwh": None}).status_code == 200

    history = list(household.history.order_by("-history_date")[:2])
    assert household.history.count() == before + 2
    assert history[1].working_price_per_kwh == Decimal("0.35")
    assert history[0].working_price_per_kwh is None
    assert {row.history_user_id for row in history} == {user.pk}


def test_an_empty_change_writes_nothing() -> None:
    user = UserFactory()
    before = Household.objects.get(user=user).history.count()

    response = patch(user, {})

    assert response.status_code == 200
    assert Household.objects.get(user=user).history.count() == before


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not a known time zone"),
        ({"base_price_per_month": -1}, "base_price_per_month", "greater than or equal to 0"),
        ({"working_price_per_kwh": -0.01}, "working_price_per_kwh", "greater than or equal"),
        ({"working_price_per_kwh": "cheap"}, "working_price_per_kwh", "valid number"),
        ({"base_price_per_month": 1.234}, "base_price_per_month", "2 decimal places"),
        ({"household_size": 0}, "household_size", "greater than or equal to 1"),
        ({"daily_consumption_goal_kwh": 0}, "daily_consumption_goal_kwh", "greater than"),
        ({"language": "fr"}, "language", "not a valid choice"),
        ({"tariff": "gold"}, "tariff", "not a valid choice"),
        ({"app_version": 2}, "app_version", "cannot be changed here"),
    ],
)
def test_a_wrong_field_is_named_with_a_readable_message_and_nothing_changes(
    body: dict[str, Any], field: str, says: str
) -> None:
    user = UserFactory()
    before = Household.objects.filter(user=user).values().get()

    response = patch(user, body)

    assert response.status_code == 400
    data = response.json()
    assert (data["message"], data["code"]) == ("Validation error", "invalid")
    messages = data["extra"]["fields"]["household"][field]
    assert any(says in message for message in messages), messages
    assert Household.objects.filter(user=user).values().get() == before


@pytest.mark.parametrize("body", [None, [], "x", {"household": None}, {"email": "x@example.org"}])
def test_malformed_bodies_are_400(body: Any) -> None:
    user = UserFactory()
    response = client_for(user).patch(reverse("users:me-retrieve"), body, format="json")
    assert response.status_code == 400
    assert User.objects.get(pk=user.pk).email == user.email


def test_staff_without_a_household_gets_404_and_no_household_is_created() -> None:
    staff = StaffFactory()

    response = patch(staff, {"tariff": "eco"})

    assert response.status_code == 404
    assert response.json()["code"] == "no_household"
    assert not Household.objects.filter(user=staff).exists()


def test_only_the_callers_household_changes() -> None:
    user, other = UserFactory(), UserFactory()

    assert patch(user, {"household_size": 4}).status_code == 200

    assert Household.objects.get(user=other).household_size is None


def test_anonymous_is_refused() -> None:
    response = APIClient().patch(
        reverse("users:me-retrieve"), {"household": {"tariff": "eco"}}, format="json"
    )
    assert response.status_code == 401
