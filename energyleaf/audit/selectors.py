"""Reading the audit app's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from energyleaf.audit.services.events import CELERY_HEARTBEAT

from .models import AuditEvent, Heartbeat


def heartbeat_last(*, name: str = CELERY_HEARTBEAT) -> datetime | None:
    """When the heartbeat `name` last arrived, or None if it never did."""
    return Heartbeat.objects.filter(name=name).values_list("last_at", flat=True).first()


def audit_event_last_time(*, title: str) -> datetime | None:
    """When the newest audit event with this title was written, or None."""
    return (
        AuditEvent.objects.filter(title=title)
        .order_by("-timestamp")
        .values_list("timestamp", flat=True)
        .first()
    )


@dataclass(frozen=True)
class AuditRecord:
    """One audit event as plain values."""

    event_id: int
    timestamp: datetime
    title: str
    app_function: str
    sensor_id: int | None
    details: dict[str, Any]


def audit_errors_between(
    *, since: datetime, until: datetime, component: str = AuditEvent.Component.WORKER
) -> list[AuditRecord]:
    """The error events (`log_type` error) that `component` (default: the worker, i.e. a
    background job) recorded in [since, until), oldest first."""
    rows = (
        AuditEvent.objects.filter(
            log_type=AuditEvent.LogType.ERROR,
            app_component=component,
            timestamp__gte=since,
            timestamp__lt=until,
        )
        .order_by("timestamp", "pk")
        .values_list("pk", "timestamp", "title", "app_function", "sensor_id", "details")
    )
    return [
        AuditRecord(
            event_id=pk,
            timestamp=timestamp,
            title=title,
            app_function=app_function,
            sensor_id=sensor_id,
            details=details if isinstance(details, dict) else {},
        )
        for pk, timestamp, title, app_function, sensor_id, details in rows
    ]
