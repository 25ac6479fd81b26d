"""Deleting what is past its retention: rejected readings, and raw readings up to a cut-off that
the caller (analytics, which knows what its rollups cover) decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ..models import Reading, RejectedReading

DELETE_BATCH = 5000


def rejected_readings_delete_before(*, before: datetime) -> int:
    """Delete rejected readings received before `before`; returns how many."""
    deleted, _ = RejectedReading.objects.filter(received_at__lt=before).delete()
    return deleted


def readings_delete_before(
    *,
    before: datetime,
    received_before: datetime,
    keep_ranges: Sequence[tuple[int, datetime, datetime]] = (),
    batch_size: int = DELETE_BATCH,
    max_rows: int | None = None,
) -> int:
    """Delete raw readings measured before `before` and received before `received_before`.

    Never deleted: the newest reading of each sensor (ingestion computes the next reading's
    consumption and plausibility from it), and readings of a sensor inside one of
    `keep_ranges` (sensor id, start, end exclusive). Works in batches of `batch_size` rows, each
    in its own transaction, and stops after about `max_rows` rows (None: no limit) so a first run
    over years of readings fits a task's time limit; the next run continues. Returns how many
    readings were deleted.
    """
    deleted = 0
    sensor_ids = (
        Reading.objects.filter(timestamp__lt=before, received_at__lt=received_before)
        .values_list("sensor_id", flat=True)
        .distinct()
        .order_by()
    )
    for sensor_id in list(sensor_ids):
        newest = (
            Reading.objects.filter(sensor_id=sensor_id)
            .order_by("-timestamp")
            .values_list("pk", flat=True)
            .first()
        )
        kept = Q(pk=newest)
        for kept_sensor, start, end in keep_ranges:
            if kept_sensor == sensor_id:
                kept |= Q(timestamp__gte=start, timestamp__lt=end)
        candidates = (
            Reading.objects.filter(
                sensor_id=sensor_id, timestamp__lt=before, received_at__lt=received_before
            )
            .exclude(kept)
            .order_by("timestamp")
            .values_list("pk", flat=True)
        )
        while max_rows is None or deleted < max_rows:
            ids = list(candidates[:batch_size])
            if not ids:
                break
            with transaction.atomic():
                count, _ = Reading.objects.filter(pk__in=ids).delete()
            deleted += count
        if max_rows is not None and deleted >= max_rows:
            break
    return deleted
