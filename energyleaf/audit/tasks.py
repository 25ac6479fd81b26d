from __future__ import annotations

from celery import shared_task


@shared_task(name="audit.heartbeat", ignore_result=True, soft_time_limit=30, time_limit=60)
def heartbeat_task() -> None:
    """Beat fires this every minute; a worker running it proves that both are alive. It moves one
    state row (`/health` reads it) instead of writing an audit row a minute forever."""
    from . import services

    services.heartbeat_record()
