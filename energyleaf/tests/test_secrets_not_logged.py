"""No secret reaches a log line or the audit log.

A representative flow runs in-process with every logger captured at DEBUG: sensor token issue,
readings (single, batch, with a wrong and an expired token), script confirmation, JWT login,
refresh and verify, failed logins, cron triggers with a wrong and the right secret, the ML
endpoint with a wrong key, unsubscribe, and admin actions (sensor reset, token revocation,
marking participants exported). Afterwards neither the captured log text nor any AuditEvent row
may contain an issued sensor token, a password (right or wrong), a JWT, the unsubscribe token,
DJANGO_SECRET_KEY, the cron secret, the ML API key or the SMTP password.

Secrets are matched whole and by every 16-character piece, so a token logged in part is found
too; only secrets of at least 16 characters are used, so short strings cannot match by chance.
The gunicorn access-log format is checked as well: it must not write query strings (the
unsubscribe token travels in one) or referrers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from energyleaf.audit.models import AuditEvent
from energyleaf.tests.helpers import body_bytes, client_for
from energyleaf.users.models import ExperimentParticipation
from energyleaf.users.tests.factories import TEST_PASSWORD, UserFactory
from reports.services.unsubscribe import unsubscribe_token_make
from sensors.models import Sensor, SensorToken
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.services import sensor_register

pytestmark = pytest.mark.django_db

PIECE = 16
CRON_SECRET = "cron-secret-3b7e1f09d4c2a8e5f6"
ML_API_KEY = "ml-api-key-5d1c7a9e2f4b6083"
SMTP_PASSWORD = "smtp-password-9a4e2c7f1b3d5068"
WRONG_PASSWORD = "wrong-password-6f2a9c1e7d3b4085"


def pieces(secret: str) -> set[str]:
    """The secret and every 16-character piece of it."""
    return {secret} | {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}


def find_secrets(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(
        name for name, secret in secrets.items() if any(p in text for p in pieces(secret))
    )


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        # Structured `extra` values (a JSON formatter would write them) count too; objects such
        # as Django's `request` are not written by any formatter and are left out.
        extra = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str | int | float | None)
        }
        self.lines.append(f"{text} {extra!r}")


_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@pytest.fixture
def captured_logs() -> Iterator[_Capture]:
    """Every record at DEBUG and above, as with DJANGO_LOG_LEVEL=DEBUG: the root logger is
    lowered, the levels the settings give to single loggers stay."""
    handler = _Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _post(client: Client, path: str, message: Any) -> Any:
    body = message if isinstance(message, bytes) else message.SerializeToString()
    return client.generic("POST", path, body, content_type="application/x-protobuf")


def test_no_secret_in_logs_or_audit_events(captured_logs: _Capture, settings: Any) -> None:
    settings.ENERGYLEAF_CRON_SECRET = CRON_SECRET
    settings.ENERGYLEAF_ML_API_KEY = ML_API_KEY
    settings.EMAIL_HOST_PASSWORD = SMTP_PASSWORD
    household = UserFactory(email="flow-household@example.org")
    admin = UserFactory(is_staff=True, is_superuser=True, email="flow-admin@example.org")
    ExperimentParticipation.objects.update_or_create(
        user=household, defaults={"status": ExperimentParticipation.Status.APPROVED}
    )
    sensor = sensor_register(client_id="5C:CF:7F:00:11:22", user=household, script="sml-script")
    client = Client()
    secrets: dict[str, str] = {
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "cron secret": CRON_SECRET,
        "ML API key": ML_API_KEY,
        "SMTP password": SMTP_PASSWORD,
        "household password": TEST_PASSWORD,
        "wrong password": WRONG_PASSWORD,
    }

    # Sensor: token, readings, script confirmation, batch, wrong and expired tokens.
    tokens = []
    for _ in range(2):
        answer = pb.TokenResponse.FromString(
            body_bytes(_post(client, "/api/v1/token", pb.TokenRequest(client_id=sensor.client_id)))
        )
        assert answer.status == 200
        tokens.append(answer.access_token)
    for index, token in enumerate(tokens):
        secrets[f"sensor token {index}"] = token
    now = int(timezone.now().timestamp())
    for step, token in enumerate(tokens):
        request = pb.SensorDataRequestV2(
            access_token=token, type=1, value=1000 + step * 0.01, timestamp=now - 60 + step * 15
        )
        assert _post(client, "/api/v1/sensor_input", request).status_code == 200
    wrong = "W" * 10 + tokens[0][10:]
    secrets["guessed sensor token"] = wrong
    request = pb.SensorDataRequestV2(access_token=wrong, type=1, value=1003)
    assert _post(client, "/api/v1/sensor_input", request).status_code == 401
    assert (
        _post(
            client, "/api/v1/script_accepted", pb.ScriptAcceptedRequest(access_token=tokens[0])
        ).status_code
        == 200
    )
    batch = {
        "access_token": tokens[1],
        "readings": [{"value": 1000.05, "timestamp": now - 5}, {"value": float(2**70)}],
    }
    response = client.post("/api/v1/sensor_input/batch", batch, content_type="application/json")
    assert response.status_code == 200
    SensorToken.objects.filter(sensor=sensor).update(expires_at=timezone.now() - timedelta(1))
    request = pb.SensorDataRequestV2(access_token=tokens[0], type=1, value=1011)
    assert _post(client, "/api/v1/sensor_input", request).status_code == 401
    garbage = mapping.encode_token_request(mapping.TokenRequestData(tokens[1], 1, False))
    _post(client, "/api/v1/sensor_input", garbage + b"\xff")

    # Households: JWT login, refresh, verify, failed logins, a wrong JWT.
    api = APIClient()
    login = api.post(
        "/api/v1/auth/token", {"email": household.email, "password": TEST_PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    secrets["JWT access"] = login.json()["access"]
    secrets["JWT refresh"] = login.json()["refresh"]
    refreshed = api.post(
        "/api/v1/auth/token/refresh", {"refresh": secrets["JWT refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    secrets["JWT refreshed access"] = refreshed.json()["access"]
    assert (
        api.post(
            "/api/v1/auth/token/verify", {"token": secrets["JWT access"]}, format="json"
        ).status_code
        == 200
    )
    for email in (household.email, "nobody@example.org"):
        failed = api.post(
            "/api/v1/auth/token", {"email": email, "password": WRONG_PASSWORD}, format="json"
        )
        assert failed.status_code == 401
    tampered = secrets["JWT access"][:-6] + "AAAAAA"
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    assert (
        api.get("/api/v1/me", headers={"Authorization": f"Bearer {secrets['JWT access']}"})
    ).status_code == 200

    # Operators: cron triggers, the ML key.
    assert (
        api.get("/api/v1/mark_peaks", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert (
        api.get("/api/v1/anomaly", headers={"Authorization": f"Bearer {CRON_SECRET}"}).status_code
        == 202
    )
    wrong_key = ML_API_KEY[::-1]
    secrets["wrong ML key"] = wrong_key
    assert api.post(
        "/api/v1/ml", {}, format="json", headers={"X-Api-Key": wrong_key}
    ).status_code in (
        401,
        403,
    )
    api.post("/api/v1/ml", {"electricity": []}, format="json", headers={"X-Api-Key": ML_API_KEY})

    # Unsubscribe: show, then apply; then a forged token.
    unsubscribe = unsubscribe_token_make(user_id=household.pk, scope="reports")
    secrets["unsubscribe token"] = unsubscribe
    assert client.get("/unsubscribe", {"token": unsubscribe}).status_code == 200
    assert client.post("/unsubscribe", {"token": unsubscribe}).status_code == 200
    assert client.get("/unsubscribe", {"token": unsubscribe[:-4] + "abcd"}).status_code == 400

    # Admins: sensor reset and token revocation in the admin, participants marked exported.
    client.force_login(admin)
    changelist = f"/{settings.ADMIN_URL}sensors/sensor/"
    for action in ("revoke_tokens", "reset_sensors"):
        response = client.post(
            changelist,
            {"action": action, "_selected_action": [sensor.pk], "post": "yes", "confirm": "yes"},
        )
        assert response.status_code in (200, 302), action
    admin_api = client_for(admin)
    marked = admin_api.post(
        "/api/v1/csv_experiment/mark_exported", {"user_ids": [household.pk]}, format="json"
    )
    assert marked.status_code == 200
    assert Sensor.objects.filter(pk=sensor.pk, needs_script=True).exists()

    # The checks themselves.
    assert all(len(secret) >= PIECE for secret in secrets.values()), secrets
    log_text = "\n".join(captured_logs.lines)
    assert len(captured_logs.lines) >= 10, log_text  # the flow really logged
    assert find_secrets(log_text, secrets) == [], log_text
    events = list(AuditEvent.objects.values())
    assert events, "the flow writes audit events"
    audit_text = json.dumps(events, default=str)
    assert find_secrets(audit_text, secrets) == [], audit_text


def test_detector_finds_a_logged_token_piece() -> None:
    """The matcher finds a secret logged whole or in part, and nothing in unrelated text."""
    token = "k2Jd8sLq0ZpX4vNc7RtY1uWb3eFg5hMi"
    secrets = {"token": token}
    assert find_secrets(f"token={token}", secrets) == ["token"]
    assert find_secrets(f"prefix {token[5:21]} suffix", secrets) == ["token"]
    assert find_secrets(f"short {token[:8]}... and 1234567890", secrets) == []


def test_gunicorn_access_log_has_no_query_string_or_referrer() -> None:
    """The access log must not carry the unsubscribe token (in the query) or a referrer."""
    namespace: dict[str, Any] = {}
    config = settings.BASE_DIR / "gunicorn.conf.py"
    exec(compile(config.read_text(), str(config), "exec"), namespace)  # noqa: S102 - own config
    log_format = namespace.get("access_log_format", "")
    assert log_format, "gunicorn.conf.py sets access_log_format"
    for atom in ("%(r)s", "%(q)s", "%(f)s", "%({query_string}e)s"):
        assert atom not in log_format, atom

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    cfg = Config()
    cfg.set("access_log_format", log_format)
    token = "unsubscribe-token-7c1e9a3f5b2d4086"
    request = type(
        "Req",
        (),
        {
            "method": "GET",
            "path": "/unsubscribe",
            "query": f"token={token}",
            "uri": f"/unsubscribe?token={token}",
            "version": (1, 1),
            "headers": [("REFERER", f"https://x/unsubscribe?token={token}")],
        },
    )()
    response = type(
        "Resp", (), {"status": "200 OK", "sent": 10, "headers": [], "response_length": 10}
    )()
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/unsubscribe?token={token}",
        "PATH_INFO": "/unsubscribe",
        "QUERY_STRING": f"token={token}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://x/unsubscribe?token={token}",
    }
    atoms = Logger(cfg).atoms(response, request, environ, timedelta(milliseconds=5))
    line = log_format % atoms
    assert "/unsubscribe" in line
    assert token not in line
