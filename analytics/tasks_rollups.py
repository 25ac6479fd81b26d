"""Celery task keeping the 15-minute consumption rollups up to date (beat: every 5 minutes)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="analytics.refresh_rollups",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=280,
)
def refresh_rollups_task() -> int:
    """Fold newly received (and late) readings into the rollups; idempotent, so re-delivery and
    overlapping runs are harmless. Returns the number of buckets rewritten."""
    from .services.rollups import rollups_refresh

    return rollups_refresh().buckets
