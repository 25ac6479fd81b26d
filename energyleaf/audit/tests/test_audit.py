from __future__ import annotations

import pytest

from energyleaf.audit.models import AuditEvent, Heartbeat
from energyleaf.audit.selectors import heartbeat_last
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


def test_heartbeat_task_moves_one_state_row_and_writes_no_audit_rows():
    heartbeat_task.delay()
    first = Heartbeat.objects.get(name="celery")
    heartbeat_task.delay()
    second = Heartbeat.objects.get(name="celery")
    assert Heartbeat.objects.count() == 1
    assert second.beats == 2
    assert second.last_at >= first.last_at
    assert heartbeat_last() == second.last_at
    assert not AuditEvent.objects.exists()


def test_heartbeat_is_in_the_beat_schedule():
    assert default_entry("heartbeat").task == heartbeat_task.name
