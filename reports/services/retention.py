"""The daily clean-up of everything past its retention, across the apps (beat entry
`cleanup-retention`). Each step is its app's own service; this only reads the settings."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from analytics.services.retention import readings_retention_apply
from energyleaf.audit.services import audit_events_delete_before
from energyleaf.common.time import retention_cut_off
from sensors.services import rejected_readings_delete_before


def retention_cleanup(*, now: datetime) -> dict[str, int]:
    """Delete audit events, rejected readings and (when a reading retention is set) raw readings
    past their retention; returns how many rows of each were deleted. Idempotent."""
    deleted = {"audit_events": 0, "rejected_readings": 0, "readings": 0}
    audit_before = retention_cut_off(now=now, days=int(settings.ENERGYLEAF_AUDIT_RETENTION_DAYS))
    if audit_before is not None:
        deleted["audit_events"] = audit_events_delete_before(before=audit_before)
    rejected_before = retention_cut_off(
        now=now, days=int(settings.ENERGYLEAF_REJECTED_READING_RETENTION_DAYS)
    )
    if rejected_before is not None:
        deleted["rejected_readings"] = rejected_readings_delete_before(before=rejected_before)
    deleted["readings"] = readings_retention_apply(now=now)
    return deleted
