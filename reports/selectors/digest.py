"""Reads for the staff daily digest: the facts of one window from the lower apps (sensors'
health selectors, the readings owner for counts, the audit log for failed background work)
and the digest's own rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from energyleaf.audit.selectors import AuditRecord, audit_errors_between
from sensors.selectors.health import (
    MeterEventRecord,
    SensorRefusals,
    SilentSensor,
    meter_events_recorded,
    refusals_by_sensor,
    sensors_silent,
)
from sensors.selectors.readings import readings_received_counts

from ..models import StaffDigest, StaffDigestMail


@dataclass(frozen=True)
class DigestFacts:
    """What happened in [since, until): silent sensors (as of `until`), meter events recorded,
    errors of background jobs from the audit log (failed mails among them), and per sensor with
    at least the minimum of refusals, its refusals and the readings stored meanwhile."""

    since: datetime
    until: datetime
    silent: list[SilentSensor]
    meter_events: list[MeterEventRecord]
    worker_errors: list[AuditRecord]
    refusals: list[tuple[SensorRefusals, int]]


def digest_facts(
    *, since: datetime, until: datetime, silent_after_cutoff: datetime, refusals_minimum: int
) -> DigestFacts:
    """The facts of the window: a fixed number of queries whatever the size of the fleet
    (stored readings are counted only for sensors with at least `refusals_minimum` refusals)."""
    refusals = [
        item
        for item in refusals_by_sensor(since=since, until=until)
        if item.total >= refusals_minimum
    ]
    stored = readings_received_counts(
        sensor_ids=[item.sensor_id for item in refusals], since=since, until=until
    )
    return DigestFacts(
        since=since,
        until=until,
        silent=sensors_silent(cutoff=silent_after_cutoff),
        meter_events=meter_events_recorded(since=since, until=until),
        worker_errors=audit_errors_between(since=since, until=until),
        refusals=[(item, stored.get(item.sensor_id, 0)) for item in refusals],
    )


def staff_digest_of_day(*, day: date) -> StaffDigest | None:
    """The digest stored for the UTC day `day`, if any."""
    return StaffDigest.objects.filter(day=day).first()


def staff_digest_latest_window_end() -> datetime | None:
    """Where the newest stored digest's window ended (None before the first digest)."""
    return StaffDigest.objects.order_by("-window_end").values_list("window_end", flat=True).first()


def staff_digest_mail_ids_due(*, digest_id: int, max_attempts: int) -> list[int]:
    """IDs of the digest's mails still to be sent (pending, or failed below `max_attempts`)."""
    return list(
        StaffDigestMail.objects.filter(digest_id=digest_id)
        .filter(StaffDigestMail.mail_due_filter(max_attempts=max_attempts))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
