"""Project-wide test fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import cache
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


@pytest.fixture
def admin_client_logged_in(client, admin_user):  # type: ignore[no-untyped-def]
    """Django's test client logged into the admin as a superuser."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """An empty cache (throttle counters, login attempts) before and after the test: use with
    `pytest.mark.usefixtures("fresh_cache")`."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def redis_url() -> str:
    """A real Redis for the tests that need one (ENERGYLEAF_TEST_REDIS_URL, which .ci/run sets;
    database 15 of the local Redis by default); the test is skipped without one."""
    url = os.environ.get("ENERGYLEAF_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {url}: {exc}")
    return url
