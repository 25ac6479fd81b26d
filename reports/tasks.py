"""Celery tasks of reports: thin wrappers over idempotent services."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from energyleaf.common.tasks import database_task
from reports.services.errors import ReportMailError


@shared_task(
    name="reports.send_anomaly_mails",
    acks_late=True,  # the service is idempotent: a re-delivered run mails nothing twice
    soft_time_limit=600,
    time_limit=660,
    ignore_result=True,
)
def send_anomaly_mails_task() -> dict[str, int]:
    """Mail households about anomalies detected in the last 24 hours (beat: :05 and :35)."""
    from .services.anomaly_mails import anomaly_mails_send

    return anomaly_mails_send().as_dict()


@shared_task(
    name="reports.generate_due_reports",
    acks_late=True,  # only enqueues; report_generate is idempotent per period
    soft_time_limit=300,
    time_limit=360,
    ignore_result=True,
)
def generate_due_reports_task(now: str | None = None) -> int:
    """Hourly fan-out (beat at :00): one `reports.generate_report` task per household whose
    report is due in its own time zone, and report mails whose task was lost enqueued again.
    `now` (ISO 8601 with offset) is for operators and tests."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from reports.selectors.reports import reports_due

    from .services.reports import report_mails_requeue_stuck

    moment = (parse_datetime(now) if now else None) or timezone.now()
    user_ids = reports_due(now=moment)
    for user_id in user_ids:
        generate_report_task.delay(user_id, moment.isoformat())
    report_mails_requeue_stuck(now=moment)
    return len(user_ids)


@database_task(
    "reports.generate_report",
    acks_late=True,  # idempotent: a report per household and period is stored once
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def generate_report_task(user_id: int, now: str) -> int:
    """Build (or find) the household's report for the period that is due at `now`."""
    from django.utils.dateparse import parse_datetime

    from .services.reports import report_generate

    moment = parse_datetime(now)
    if moment is None:
        raise ValueError(f"not an ISO 8601 datetime: {now!r}")
    return report_generate(user_id=user_id, now=moment).pk


@database_task(
    "reports.send_report_mail",
    acks_late=True,  # the service sends only a pending or failed report: no double send
    also_retry_for=(ReportMailError,),
    retry_backoff=60,  # about 1, 2, 4, 8 minutes between the attempts (with jitter)
    retry_backoff_max=900,
    max_retries=4,  # 5 attempts in all; the report then stays `failed`
    soft_time_limit=120,
    time_limit=150,
)
def send_report_mail_task(report_id: int) -> str:
    """Mail one report (enqueued after the report is built, or by an admin's resend). A
    transport failure is recorded on the report and retried with exponential backoff."""
    from .services.report_mails import report_mail_send

    return report_mail_send(report_id=report_id)


@shared_task(
    name="reports.survey_routine",
    acks_late=True,  # idempotent: status guards and one invitation per user and survey
    soft_time_limit=600,
    time_limit=660,
    ignore_result=True,
)
def survey_routine_task(now: str | None = None) -> dict[str, int]:
    """Daily: move participants due for survey 2 or 3 on and invite them (docs/design.md,
    difference 14).
    `now` (ISO 8601 with offset) is for operators and tests."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from .services.surveys import survey_routine_run

    moment = (parse_datetime(now) if now else None) or timezone.now()
    return survey_routine_run(now=moment).as_dict()


@database_task(
    "reports.cleanup_retention",
    acks_late=True,  # idempotent: a second run finds nothing more past retention
    retry_backoff=60,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1860,
)
def cleanup_retention_task(now: str | None = None) -> dict[str, int]:
    """Daily (beat at 03:47): delete audit events, rejected readings and, when a reading
    retention is set, raw readings the rollups hold, each past its retention. `now` (ISO 8601
    with offset) is for operators and tests."""
    import logging

    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from .services.retention import retention_cleanup

    moment = (parse_datetime(now) if now else None) or timezone.now()
    deleted = retention_cleanup(now=moment)
    logging.getLogger(__name__).info(
        "retention clean-up deleted %s",
        ", ".join(f"{count} {name}" for name, count in deleted.items()),
    )
    return deleted


@database_task(
    "reports.send_staff_digest",
    bind=True,
    acks_late=True,  # idempotent per UTC day: one mail per digest and recipient
    retry_backoff=60,
    max_retries=2,  # with the first run, the staff digest mail's 3 attempts
    soft_time_limit=300,
    time_limit=360,
)
def send_staff_digest_task(self: Task[Any, Any], now: str | None = None) -> dict[str, int | None]:
    """Daily (beat `staff-digest`, 06:30 UTC unless the admin moved it): mail support staff the
    digest of the last 24 hours, or nothing when there is nothing to say. When a mail failed,
    the task runs again later for the same moment (so the same day's digest), which sends only
    the mails still due. `now` (ISO 8601 with offset) is for operators and tests."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from .services.staff_digest import staff_digest_send

    moment = (parse_datetime(now) if now else None) or timezone.now()
    result = staff_digest_send(now=moment)
    if result.failed and self.request.retries < (self.max_retries or 0):
        raise self.retry(
            kwargs={"now": moment.isoformat()}, countdown=300 * 2**self.request.retries
        )
    return result.as_dict()
