"""Writing audit events. Callers pass ids and plain data; never a token, password or secret."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from energyleaf.audit.models import AuditEvent, Heartbeat

logger = logging.getLogger(__name__)

# Keys whose values are dropped from details before storing, wherever they appear.
SECRET_KEYS = frozenset({"access_token", "token", "code", "password", "secret", "authorization"})


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: ("[redacted]" if str(key).lower() in SECRET_KEYS else _scrub(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def audit_event_record(
    *,
    title: str,
    app_function: str,
    log_type: str = AuditEvent.LogType.INFO,
    app_component: str = AuditEvent.Component.API,
    user_id: int | None = None,
    sensor_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Store one audit event; secret-looking keys in `details` are redacted first."""
    return AuditEvent.objects.create(
        title=title,
        app_function=app_function,
        log_type=log_type,
        app_component=app_component,
        user_id=user_id,
        sensor_id=sensor_id,
        details=_scrub(details or {}),
    )


def audit_events_record(*, events: Iterable[dict[str, Any]]) -> int:
    """Store many audit events in one statement; each dict holds `audit_event_record`'s
    keyword arguments (details scrubbed the same way). Returns how many."""
    rows = [
        AuditEvent(
            title=event["title"],
            app_function=event["app_function"],
            log_type=event.get("log_type", AuditEvent.LogType.INFO),
            app_component=event.get("app_component", AuditEvent.Component.API),
            user_id=event.get("user_id"),
            sensor_id=event.get("sensor_id"),
            details=_scrub(event.get("details") or {}),
        )
        for event in events
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


CELERY_HEARTBEAT = "celery"


def heartbeat_record(*, name: str = CELERY_HEARTBEAT) -> None:
    """Move the heartbeat `name` to now: one row per source, updated in place."""
    now = timezone.now()
    updated = Heartbeat.objects.filter(name=name).update(last_at=now, beats=F("beats") + 1)
    if not updated:
        Heartbeat.objects.update_or_create(name=name, defaults={"last_at": now, "beats": 1})


def audit_events_delete_before(*, before: datetime) -> int:
    """Delete the audit events written before `before`; returns how many."""
    deleted, _ = AuditEvent.objects.filter(timestamp__lt=before).delete()
    return deleted
