"""JWT problems are answered with simplejwt's own code and message in the common error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from rest_framework import exceptions
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from energyleaf.common.api import exception_handler

pytestmark = pytest.mark.django_db


def _expired_access(user) -> str:  # type: ignore[no-untyped-def]
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


def test_an_expired_access_token_says_it_is_expired(api_client, household_user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_expired_access(household_user)}")
    response = api_client.get(reverse("users:me-retrieve"))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "token_not_valid"
    assert body["message"] == "Token is expired"
    assert body["extra"]["detail"] == "Given token not valid for any token type"
    assert body["extra"]["messages"] == [
        {"token_class": "AccessToken", "token_type": "access", "message": "Token is expired"}
    ]


def test_a_garbage_token_is_named_invalid(api_client, household_user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = api_client.get(reverse("users:me-retrieve"))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "token_not_valid"
    assert body["message"] == "Token is invalid"
    assert body["extra"]["messages"][0]["token_type"] == "access"


def test_refreshing_with_an_access_token_says_wrong_type(api_client, household_user):
    access = str(AccessToken.for_user(household_user))
    response = api_client.post(reverse("users:jwt-refresh"), {"refresh": access}, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "message": "Token has wrong type",
        "code": "token_not_valid",
        "extra": {},
    }


def test_refreshing_with_an_expired_refresh_token_says_expired(api_client, household_user):
    refresh = RefreshToken.for_user(household_user)
    refresh.set_exp(lifetime=-timedelta(seconds=1))
    response = api_client.post(
        reverse("users:jwt-refresh"), {"refresh": str(refresh)}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["message"] == "Token is expired"
    assert response.json()["code"] == "token_not_valid"


def test_verifying_garbage_says_invalid(api_client):
    response = api_client.post(reverse("users:jwt-verify"), {"token": "garbage"}, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "message": "Token is invalid",
        "code": "token_not_valid",
        "extra": {},
    }


def test_a_wrong_password_keeps_simplejwts_message(api_client, household_user):
    response = api_client.post(
        reverse("users:jwt-obtain"),
        {"email": household_user.email, "password": "wrong"},
        format="json",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "no_active_account"
    assert response.json()["message"].startswith("No active account")


def test_other_structured_details_give_their_first_message_and_code():
    listed = exception_handler(
        exceptions.APIException([exceptions.ErrorDetail("Out of paper", code="no_paper")]), {}
    )
    assert listed is not None
    assert listed.data == {
        "message": "Out of paper",
        "code": "no_paper",
        "extra": {"errors": ["Out of paper"]},
    }
    nested = exceptions.PermissionDenied({"sensor": ["Not yours."]}, code="foreign_sensor")
    answered = exception_handler(nested, {})
    assert answered is not None
    assert answered.status_code == 403
    assert answered.data == {
        "message": "Not yours.",
        "code": "foreign_sensor",
        "extra": {"errors": {"sensor": ["Not yours."]}},
    }
