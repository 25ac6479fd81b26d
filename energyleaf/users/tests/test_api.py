from __future__ import annotations

import pytest
from django.urls import reverse

from energyleaf.tests.helpers import jwt_obtain
from energyleaf.users.tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_jwt_obtain_refresh_verify(api_client, household_user):
    tokens = jwt_obtain(household_user.email, client=api_client)
    assert set(tokens) == {"access", "refresh"}
    refreshed = api_client.post(
        reverse("users:jwt-refresh"), {"refresh": tokens["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    verified = api_client.post(
        reverse("users:jwt-verify"), {"token": refreshed.json()["access"]}, format="json"
    )
    assert verified.status_code == 200


def test_jwt_with_wrong_password_is_401_in_the_common_error_shape(api_client, household_user):
    response = api_client.post(
        reverse("users:jwt-obtain"),
        {"email": household_user.email, "password": "wrong"},
        format="json",
    )
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"message", "code", "extra"}


def test_inactive_user_cannot_log_in(api_client):
    user = UserFactory(is_active=False)
    response = api_client.post(
        reverse("users:jwt-obtain"), {"email": user.email, "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 401


def test_me_returns_own_user_and_household(api_client, household_user, django_assert_num_queries):
    UserFactory()  # somebody else, must not leak
    tokens = jwt_obtain(household_user.email, client=api_client)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    with django_assert_num_queries(2):  # the JWT user lookup, then user+household+experiment
        response = api_client.get(reverse("users:me-retrieve"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == household_user.pk
    assert body["email"] == household_user.email
    assert body["household"]["time_zone"] == "Europe/Berlin"
    assert body["experiment"] is None
    assert "password" not in body


def test_me_requires_authentication(api_client):
    response = api_client.get(reverse("users:me-retrieve"))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_me_rejects_a_forged_token(api_client, household_user):
    tokens = jwt_obtain(household_user.email, client=api_client)
    forged = tokens["access"][:-4] + ("AAAA" if not tokens["access"].endswith("AAAA") else "BBBB")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert api_client.get(reverse("users:me-retrieve")).status_code == 401


def test_openapi_schema_and_swagger_ui_are_served(client):
    schema = client.get(reverse("api-schema"))
    assert schema.status_code == 200
    assert b"/api/v1/me" in schema.content
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
