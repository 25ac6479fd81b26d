"""The staff daily digest: one short English mail to support staff about what needs looking
after (docs/operations.md, "Staff daily digest").

Sections, over the 24 h up to the run (the window; it reaches back further, to where the
previous digest's window ended, when this run is later in its day, up to 48 h), in this order:

- silent sensors: sensors of active households without a reading for more than
  `ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS` (default 6), as of the run;
- meter events recorded in the window;
- failed jobs: error events background jobs wrote to the audit log in the window (a failed
  research export), other than failed mails;
- failed mails: every failed send of the outbox in the window (one line per mail, its latest
  failure), whatever its kind;
- unusual refusals: sensors with at least `ENERGYLEAF_DIGEST_REFUSALS_MIN` (default 50)
  unresolved refused readings in the window that are also at least
  `ENERGYLEAF_DIGEST_REFUSALS_PERCENT` (default 5) % of what they sent (refused + stored).

Guarantees: nothing is stored or mailed when every section is empty. Otherwise the digest is
stored once per UTC day (`StaffDigest`, its window and text fixed by the first run of the day)
with one `StaffDigestMail` per recipient, so a retried or repeated run of the same day mails
nobody twice (the outbox's rule: only `pending` or `failed` rows, below `MAX_ATTEMPTS`, are
sent). Recipients are the active staff accounts of the support group with an e-mail address;
superusers and administrators get it by joining that group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from energyleaf.audit.selectors import AuditRecord
from energyleaf.users.selectors import staff_with_role
from energyleaf.users.services.roles import SUPPORT

from ..compute.digest import (
    DigestLine,
    DigestSection,
    digest_has_news,
    digest_subject,
    format_utc,
    job_failure_line,
    mail_failure_line,
    meter_event_line,
    refusal_line,
    refusals_unusual,
    section_build,
    silent_line,
)
from ..models import MailSkipReason, StaffDigest, StaffDigestMail
from ..selectors.digest import (
    DigestFacts,
    digest_facts,
    staff_digest_latest_window_end,
    staff_digest_mail_ids_due,
    staff_digest_of_day,
)
from .mails import app_url
from .outbox import MAIL_FAILED_TITLE, MailKind, mail_deliver, mail_recipient_missing

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(hours=48)
MAX_ATTEMPTS = 3
DEFAULT_SILENT_AFTER_HOURS = 6
DEFAULT_REFUSALS_MIN = 50
DEFAULT_REFUSALS_PERCENT = 5.0

__all__ = ["STAFF_DIGEST_MAIL", "StaffDigestResult", "staff_digest_sections", "staff_digest_send"]


@dataclass(frozen=True)
class DigestThresholds:
    """The digest's settings, read once per run."""

    silent_after: timedelta
    refusals_minimum: int
    refusals_percent: float

    @classmethod
    def from_settings(cls) -> DigestThresholds:
        hours = getattr(settings, "ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS", None)
        minimum = getattr(settings, "ENERGYLEAF_DIGEST_REFUSALS_MIN", None)
        percent = getattr(settings, "ENERGYLEAF_DIGEST_REFUSALS_PERCENT", None)
        return cls(
            silent_after=timedelta(hours=DEFAULT_SILENT_AFTER_HOURS if hours is None else hours),
            refusals_minimum=DEFAULT_REFUSALS_MIN if minimum is None else int(minimum),
            refusals_percent=DEFAULT_REFUSALS_PERCENT if percent is None else float(percent),
        )


@dataclass(frozen=True)
class StaffDigestResult:
    """What one run did: the day's digest (None when there was nothing to say), mail rows
    created and what each mail sent in this run became."""

    digest_id: int | None
    created: int = 0
    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    skipped_no_email: int = 0

    def as_dict(self) -> dict[str, int | None]:
        return asdict(self)


def staff_digest_send(*, now: datetime | None = None) -> StaffDigestResult:
    """Compose the digest of the 24 h up to `now` (aware UTC, default the current time) unless
    the UTC day of `now` has one already, and mail it to every support staff member who has
    not got it yet. Nothing at all when no section has anything to say. Idempotent per day;
    safe to run concurrently."""
    now = now or timezone.now()
    day = now.astimezone(UTC).date()
    digest = staff_digest_of_day(day=day)
    if digest is None:
        since = digest_window_start(now=now, previous_end=staff_digest_latest_window_end())
        sections = staff_digest_sections(since=since, until=now)
        if not digest_has_news(sections):
            logger.info("staff_digest.nothing day=%s", day, extra={"day": day.isoformat()})
            return StaffDigestResult(digest_id=None)
        digest, _ = StaffDigest.objects.get_or_create(
            day=day,
            defaults={
                "window_start": since,
                "window_end": now,
                "sections": [section.as_json() for section in sections],
            },
        )
    # One row per recipient and digest; a row a concurrent run made first is left to it.
    have = set(StaffDigestMail.objects.filter(digest=digest).values_list("user_id", flat=True))
    rows = [
        StaffDigestMail(digest=digest, user_id=user_id)
        for user_id in staff_with_role(role=SUPPORT).values_list("pk", flat=True)
        if user_id not in have
    ]
    StaffDigestMail.objects.bulk_create(rows, ignore_conflicts=True)
    created = len(rows)
    counts: dict[str, int] = {}
    for mail_id in staff_digest_mail_ids_due(digest_id=digest.pk, max_attempts=MAX_ATTEMPTS):
        # `now` picks the day and its window; the mail is stamped with when it is really sent
        # (a retry runs minutes later with the same `now`).
        outcome = mail_deliver(kind=STAFF_DIGEST_MAIL, row_id=mail_id, now=timezone.now())
        if outcome.handled:
            counts[outcome.name] = counts.get(outcome.name, 0) + 1
    result = StaffDigestResult(digest_id=digest.pk, created=created, **counts)
    counts_logged = result.as_dict()
    logger.info("staff_digest.run %s", counts_logged, extra={"counts": counts_logged})
    return result


def digest_window_start(*, now: datetime, previous_end: datetime | None) -> datetime:
    """Where the window of a digest composed at `now` begins: 24 h back, or further back to
    where the previous stored digest's window ended when that run was earlier in its day (a
    late run, a moved schedule), so nothing falls between two digests; never more than
    `MAX_WINDOW` back."""
    start = now - WINDOW
    if previous_end is not None and previous_end < start:
        start = max(previous_end, now - MAX_WINDOW)
    return start


def staff_digest_sections(*, since: datetime, until: datetime) -> list[DigestSection]:
    """The digest's sections for [since, until), empty ones included, with the settings'
    thresholds."""
    thresholds = DigestThresholds.from_settings()
    facts = digest_facts(
        since=since,
        until=until,
        silent_after_cutoff=until - thresholds.silent_after,
        refusals_minimum=thresholds.refusals_minimum,
    )
    return _sections(facts=facts, thresholds=thresholds)


# --- composing -----------------------------------------------------------------------------------


def _sections(*, facts: DigestFacts, thresholds: DigestThresholds) -> list[DigestSection]:
    silent_hours = thresholds.silent_after.total_seconds() / 3600
    mail_errors = [error for error in facts.worker_errors if error.title == MAIL_FAILED_TITLE]
    job_errors = [error for error in facts.worker_errors if error.title != MAIL_FAILED_TITLE]
    unusual = [
        (refusals, stored)
        for refusals, stored in facts.refusals
        if refusals_unusual(
            refused=refusals.total,
            stored=stored,
            minimum=thresholds.refusals_minimum,
            percent=thresholds.refusals_percent,
        )
    ]
    return [
        section_build(
            key="silent",
            title="Silent sensors",
            lines=[
                DigestLine(
                    silent_line(
                        client_id=sensor.client_id,
                        sensor_id=sensor.sensor_id,
                        sensor_type=sensor.sensor_type,
                        last_reading_at=sensor.last_reading_at,
                        assigned_at=sensor.assigned_at,
                        now=facts.until,
                    ),
                    _admin_url("admin:sensors_sensor_change", sensor.sensor_id),
                )
                for sensor in facts.silent
            ],
            more_url=_admin_url("admin:sensors_sensor_changelist"),
            note=f"no reading for more than {silent_hours:g} h",
        ),
        section_build(
            key="meter_events",
            title="Meter events",
            lines=[
                DigestLine(
                    meter_event_line(
                        client_id=event.client_id,
                        sensor_id=event.sensor_id,
                        kind=event.kind,
                        occurred_at=event.occurred_at,
                        previous_value=event.previous_value,
                        new_value=event.new_value,
                    ),
                    _admin_url("admin:sensors_meterevent_change", event.event_id),
                )
                for event in facts.meter_events
            ],
            more_url=_admin_url("admin:sensors_meterevent_changelist"),
        ),
        section_build(
            key="failed_jobs",
            title="Failed jobs",
            lines=[
                DigestLine(
                    job_failure_line(
                        title=error.title, timestamp=error.timestamp, details=error.details
                    ),
                    _admin_url("admin:audit_auditevent_change", error.event_id),
                )
                for error in job_errors
            ],
            more_url=_admin_url("admin:audit_auditevent_changelist", query={"log_type": "error"}),
        ),
        section_build(
            key="failed_mails",
            title="Failed mails",
            lines=[_mail_failure(error) for error in _latest_per_mail(mail_errors)],
            more_url=_admin_url(
                "admin:audit_auditevent_changelist", query={"title": MAIL_FAILED_TITLE}
            ),
        ),
        section_build(
            key="refusals",
            title="Unusual refusals",
            lines=[
                DigestLine(
                    refusal_line(
                        client_id=refusals.client_id,
                        sensor_id=refusals.sensor_id,
                        refused=refusals.total,
                        stored=stored,
                        main_reason=refusals.main_reason,
                    ),
                    _admin_url(
                        "admin:sensors_rejectedreading_changelist",
                        query={"q": refusals.client_id},
                    ),
                )
                for refusals, stored in unusual
            ],
            more_url=_admin_url("admin:sensors_rejectedreading_changelist"),
            note=(
                f"at least {thresholds.refusals_minimum} unresolved refusals, and at least "
                f"{thresholds.refusals_percent:g} % of what the sensor sent"
            ),
        ),
    ]


def _latest_per_mail(errors: Sequence[AuditRecord]) -> list[AuditRecord]:
    """One failure per mail (model and row): its latest in the window, in time order."""
    latest: dict[tuple[str, str], AuditRecord] = {}
    for error in errors:
        key = (str(error.details.get("model", "")), str(error.details.get("row_id", "")))
        latest[key] = error
    return sorted(latest.values(), key=lambda error: (error.timestamp, error.event_id))


def _mail_failure(error: AuditRecord) -> DigestLine:
    details = error.details
    row_id = int(details.get("row_id") or 0)
    model = str(details.get("model", ""))
    url = ""
    if "." in model and row_id:
        url = _admin_url(f"admin:{model.replace('.', '_')}_change", row_id)
    return DigestLine(
        mail_failure_line(
            kind=str(details.get("kind", model or "mail")),
            row_id=row_id,
            attempts=int(details.get("attempts") or 0),
            gave_up=bool(details.get("gave_up")),
            error=str(details.get("error", "")),
            timestamp=error.timestamp,
        ),
        url or _admin_url("admin:audit_auditevent_change", error.event_id),
    )


def _admin_url(name: str, object_id: int | None = None, query: dict[str, str] | None = None) -> str:
    """The absolute URL of an admin page (the app's base URL, `ENERGYLEAF_APP_URL`, as the
    other mails build theirs); "" when there is no such page."""
    try:
        path = reverse(name, args=[object_id] if object_id is not None else [])
    except NoReverseMatch:
        return ""
    url = app_url() + path.lstrip("/")
    return f"{url}?{urlencode(query)}" if query else url


# --- the mail ------------------------------------------------------------------------------------


def _staff_digest_compose(mail: StaffDigestMail, now: datetime) -> EmailMessage | MailSkipReason:
    """The digest's message to its recipient, or `no_email` when the account was deactivated
    or lost its address since the row was made."""
    user = mail.user
    if mail_recipient_missing(is_active=user.is_active, email=user.email):
        return MailSkipReason.NO_EMAIL
    digest = mail.digest
    sections = [DigestSection.from_json(data) for data in digest.sections]
    context: dict[str, Any] = {
        "window_start": format_utc(digest.window_start),
        "window_end": format_utc(digest.window_end),
        "sections": sections,
        "with_news": [section for section in sections if section.count],
        "admin_url": _admin_url("admin:index"),
    }
    return EmailMessage(
        subject=digest_subject(day=digest.day, sections=sections),
        body=render_to_string("reports/mail/staff_digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )


# Failed sends are tried again by the task's retries (same day) up to MAX_ATTEMPTS; a row
# another worker holds is left to it.
STAFF_DIGEST_MAIL = MailKind(
    name="staff_digest_mail",
    label="staff_digest_mail",
    model=StaffDigestMail,
    compose=_staff_digest_compose,
    select_related=("user", "digest"),
    max_attempts=MAX_ATTEMPTS,
)
