"""Celery tasks of reports: thin wrappers over idempotent services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


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
    report is due in its own time zone. `now` (ISO 8601 with offset) is for operators and tests."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from .selectors_reports import reports_due

    moment = (parse_datetime(now) if now else None) or timezone.now()
    user_ids = reports_due(now=moment)
    for user_id in user_ids:
        generate_report_task.delay(user_id, moment.isoformat())
    return len(user_ids)


@shared_task(
    name="reports.generate_report",
    acks_late=True,  # idempotent: a report per household and period is stored once
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    ignore_result=True,
)
def generate_report_task(user_id: int, now: str) -> int:
    """Build (or find) the household's report for the period that is due at `now`."""
    from django.utils.dateparse import parse_datetime

    from .services.reports import report_generate

    moment = parse_datetime(now)
    if moment is None:
        raise ValueError(f"not an ISO 8601 datetime: {now!r}")
    return report_generate(user_id=user_id, now=moment).pk
