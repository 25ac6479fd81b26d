"""When the scheduled analytics jobs last ran (for `/health` and operators)."""

from __future__ import annotations

from datetime import datetime

from energyleaf.audit.selectors import audit_event_last_time

# Title of the audit event a detection fan-out writes once every task of its run was sent.
FANOUT_AUDIT_TITLE = "analytics/detection-fanout"


def detection_last_run() -> datetime | None:
    """When the last detection fan-out (scheduled or triggered) had sent all its tasks."""
    return audit_event_last_time(title=FANOUT_AUDIT_TITLE)
