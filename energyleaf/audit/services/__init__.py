"""Writes of the audit app: `events` (audit events and heartbeats; re-exported here) and
`backups` (database backup and restore)."""

from .events import (
    CELERY_HEARTBEAT,
    SECRET_KEYS,
    audit_event_record,
    audit_events_delete_before,
    audit_events_record,
    heartbeat_record,
)

__all__ = [
    "CELERY_HEARTBEAT",
    "SECRET_KEYS",
    "audit_event_record",
    "audit_events_delete_before",
    "audit_events_record",
    "heartbeat_record",
]
