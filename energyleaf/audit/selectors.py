"""Reading the audit app's state."""

from __future__ import annotations

from datetime import datetime

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
