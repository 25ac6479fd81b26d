from __future__ import annotations

from celery import shared_task


@shared_task(name="audit.heartbeat", ignore_result=True, soft_time_limit=30, time_limit=60)
def heartbeat_task() -> None:
    """Beat fires this every minute; the audit row proves that beat and a worker are alive."""
    from . import services

    services.audit_event_record(
        title="celery/heartbeat",
        app_function="heartbeat",
        app_component="worker",
    )
