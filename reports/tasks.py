"""Celery tasks of reports: thin wrappers over idempotent services."""

from __future__ import annotations

from celery import shared_task


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
