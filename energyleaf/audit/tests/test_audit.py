from __future__ import annotations

import pytest

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.audit.tasks import heartbeat_task
from energyleaf.schedule import default_entry

pytestmark = pytest.mark.django_db


def test_secret_looking_details_are_redacted_at_any_depth():
    event = audit_event_record(
        title="sensor/token-sent",
        app_function="sensor-token",
        details={
            "client_id": "AA:BB:CC:DD:EE:FF",
            "access_token": "abc",
            "nested": {"Password": "p", "items": [{"secret": "s", "ok": 1}]},
        },
    )
    event.refresh_from_db()
    assert event.details == {
        "client_id": "AA:BB:CC:DD:EE:FF",
        "access_token": "[redacted]",
        "nested": {"Password": "[redacted]", "items": [{"secret": "[redacted]", "ok": 1}]},
    }


def test_heartbeat_task_writes_an_audit_row():
    heartbeat_task.delay()
    event = AuditEvent.objects.get(title="celery/heartbeat")
    assert event.app_component == "worker"


def test_heartbeat_is_in_the_beat_schedule():
    assert default_entry("heartbeat").task == heartbeat_task.name
