"""Test helpers every app uses: times, response bodies, authenticated API clients, JWTs, query
counts, and child processes (gunicorn, Celery) on the test database.

Plain functions; fixtures live in the conftest files. App-specific helpers are in each app's
`tests/helpers.py`, test data in its `tests/factories.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from energyleaf.users.models import User
from energyleaf.users.tests.factories import TEST_PASSWORD

# --- Times ------------------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    """`datetime(*args)` in UTC: `utc(2024, 3, 31, 1, 30)`."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- Response bodies --------------------------------------------------------------------------


def body_bytes(response: Any) -> bytes:
    """The bytes of a test-client response, streaming or not."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


def body_text(response: Any) -> str:
    """The text of a test-client response, streaming or not; undecodable bytes replaced."""
    return body_bytes(response).decode(errors="replace")


def streamed_text(response: Any) -> str:
    """The text of a response that must be streamed (a CSV download)."""
    assert response.streaming
    return b"".join(response.streaming_content).decode()


# --- Authenticated clients and JWTs -----------------------------------------------------------


def client_for(user: User) -> APIClient:
    """An API client authenticated as `user` without a token (DRF's force_authenticate)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def jwt_for(user: User) -> str:
    """A fresh JWT access token of `user`, as the obtain endpoint would give."""
    return str(RefreshToken.for_user(user).access_token)


def jwt_client(access: str) -> APIClient:
    """An API client that sends `Authorization: Bearer <access>`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def jwt_obtain(
    email: str, password: str = TEST_PASSWORD, *, client: APIClient | None = None
) -> dict[str, str]:
    """Logs in through the JWT obtain endpoint; the access and refresh tokens (must succeed)."""
    response = (client or APIClient()).post(
        reverse("users:jwt-obtain"), {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


# --- Query counts -----------------------------------------------------------------------------


def get_counting_queries(client: Any, url: str, **params: str) -> tuple[int, Any]:
    """GET `url` (must answer 200): the number of database queries it made, and the response."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries), response


# --- Child processes on the test database -----------------------------------------------------


def database_url_for(settings_dict: dict[str, Any]) -> str | None:
    """A DATABASE_URL (django-environ form) for the database of `settings_dict`, so a child
    process opens the very database the test uses; None when that is not possible (an
    in-memory SQLite database, an engine not handled here)."""
    engine, name = settings_dict["ENGINE"], str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        path = Path(name)
        return f"sqlite:///{path}" if path.is_absolute() and path.exists() else None
    if engine == "django.db.backends.postgresql":
        user = quote(str(settings_dict.get("USER") or ""), safe="")
        password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(settings_dict.get("HOST") or "")
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{credentials}{host}{port}/{quote(name, safe='')}"
    return None


def database_url_or_skip(settings_dict: dict[str, Any], who: str) -> str:
    """`database_url_for`, or skips the test: `who` (a gunicorn, a Celery worker) cannot open
    the test database."""
    url = database_url_for(settings_dict)
    if url is None:
        pytest.skip(f"{who} cannot open the test database {settings_dict['NAME']}")
    return url


def process_stop(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM (graceful shutdown), then SIGKILL to the process's own group if it does not end
    within `timeout` seconds (start it with `start_new_session=True`)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group holds only this process and children
        process.wait(timeout=5)
