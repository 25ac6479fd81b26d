"""Imported bcrypt hashes: a password longer than bcrypt's 72 bytes logs in as it did on the old
platform (which hashed its first 72 bytes), and is never an error."""

from __future__ import annotations

import bcrypt
import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse
from rest_framework.test import APIClient

from energyleaf.users.tests.factories import UserFactory

pytestmark = pytest.mark.usefixtures("fresh_cache")

LONG = "Sonnenblumenfeld am Deich, 1987, mit Oma Käthe und dem roten Traktor - nie vergessen!"


def old_platform_hash(password: str) -> str:
    """How the old platform stored it: bcrypt of the first 72 bytes, imported with the prefix of
    Django's plain bcrypt hasher."""
    digest = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    return f"bcrypt${digest}"


def test_a_long_password_matches_its_first_72_bytes() -> None:
    assert len(LONG.encode()) > 72
    encoded = old_platform_hash(LONG)

    assert check_password(LONG, encoded)
    assert check_password(LONG + " and more", encoded)  # bcrypt never saw beyond 72 bytes
    assert not check_password(LONG[:40], encoded)


@pytest.mark.django_db
def test_a_household_logs_in_with_a_long_old_password_and_is_rehashed() -> None:
    user = UserFactory()
    user.password = old_platform_hash(LONG)
    user.save(update_fields=["password"])

    answer = APIClient().post(
        reverse("users:jwt-obtain"), {"email": user.email, "password": LONG}, format="json"
    )

    assert answer.status_code == 200
    user.refresh_from_db()
    assert not user.password.startswith("bcrypt$")
    assert user.check_password(LONG)
