"""Project-wide test fixtures."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from energyleaf.users.tests.factories import UserFactory

# Every log record of the suite is searched for secrets at the end of the session.
pytest_plugins = ("energyleaf.tests.secret_watch",)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def household_user(db):  # type: ignore[no-untyped-def]
    return UserFactory()


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(is_staff=True, is_superuser=True)
