"""CORS (django-cors-headers): only configured origins, only /api/, Content-Disposition exposed."""

from __future__ import annotations

import pytest
from django.conf import LazySettings
from django.test import Client

from energyleaf.users.models import User
from energyleaf.users.tests.factories import UserFactory
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

ORIGIN = "https://app.example.org"
URL = "/api/v1/csv_energy?start=2024-06-01&end=2024-06-01"


@pytest.fixture
def household() -> User:
    user = UserFactory()
    SensorFactory(user=user)
    return user


def test_no_cross_origin_access_by_default(household: User) -> None:
    client = Client()
    client.force_login(household)

    response = client.get(URL, headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_configured_origin_may_read_the_api_and_the_file_name(
    household: User, settings: LazySettings
) -> None:
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    client = Client()
    client.force_login(household)

    answer = client.get(URL, headers={"Origin": ORIGIN})
    preflight = client.options(
        URL,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    stranger = client.get(URL, headers={"Origin": "https://evil.example.com"})
    admin = client.get("/admin/login/", headers={"Origin": ORIGIN})

    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    assert answer["Access-Control-Expose-Headers"] == "Content-Disposition"
    assert "attachment" in answer["Content-Disposition"]
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in stranger
    assert "Access-Control-Allow-Origin" not in admin
