"""The 15-minute consumption rollups: incremental refresh from newly received readings, and a full
rebuild of a range.

A bucket is the floor of a reading's UTC timestamp to 15 minutes; a reading's consumption counts
in the bucket of its `timestamp`. The refresh reads the readings *received* since a watermark
(`Reading.received_at`, indexed), so late and back-filled readings re-open their old buckets too.
Touched buckets are recomputed from the raw readings (never added to), which makes every run
idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sensors.selectors.readings import (
    readings_received_buckets,
    rollup_source_rows,
)

from ..models import ROLLUP_STATE_NAME, ConsumptionRollup, RollupState

BUCKET = timedelta(minutes=15)
# Readings commit a little after their `received_at` is set; re-reading this much before the
# newest seen receive time catches rows that committed out of order.
OVERLAP = timedelta(minutes=2)
STATE_NAME = ROLLUP_STATE_NAME
RANGES_PER_QUERY = 200
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RollupRefreshResult:
    """What one refresh did: readings window read, buckets rewritten, the new watermark."""

    read_from: datetime | None
    read_until: datetime
    buckets: int
    sensors: int
    watermark: datetime | None


def bucket_floor(moment: datetime) -> datetime:
    """The start of the 15-minute UTC bucket holding `moment` (aware)."""
    moment = moment.astimezone(UTC)
    return moment - (moment - _EPOCH) % BUCKET


def rollups_refresh(*, now: datetime | None = None) -> RollupRefreshResult:
    """Recompute every bucket that received a reading since the stored watermark, then move the
    watermark to min(now - OVERLAP, newest `received_at` read) and `covers_until` to now -
    OVERLAP. Safe to run again at any time; concurrent runs are serialised on the state row."""
    now = now or timezone.now()
    with transaction.atomic():
        RollupState.objects.get_or_create(name=STATE_NAME)
        state = RollupState.objects.select_for_update().get(name=STATE_NAME)
        read_from = state.watermark
        newest, touched = readings_received_buckets(since=read_from, until=now)
        if newest is None:
            state.covers_until = now - OVERLAP
            state.save(update_fields=["covers_until", "updated_at"])
            return RollupRefreshResult(read_from, now, 0, 0, read_from)
        per_sensor: dict[int, list[datetime]] = {}
        for sensor_id, bucket in touched:
            per_sensor.setdefault(sensor_id, []).append(bucket)
        ranges = [
            (sensor_id, first, last)
            for sensor_id, buckets in per_sensor.items()
            for first, last in _contiguous(sorted(buckets))
        ]
        written = _recompute(ranges)
        watermark = min(now - OVERLAP, newest)
        if read_from is not None:
            watermark = max(watermark, read_from)
        state.watermark = watermark
        # Nothing received up to `now` is left out (rows committing late are read again next
        # time, thanks to the overlap).
        state.covers_until = now - OVERLAP
        state.save(update_fields=["watermark", "covers_until", "updated_at"])
    return RollupRefreshResult(read_from, now, written, len(per_sensor), watermark)


def rollups_rebuild(*, sensor_id: int, start: datetime, end: datetime) -> int:
    """Recompute all rollups of one sensor for the buckets meeting [start, end) from the raw
    readings (buckets without readings are removed). Returns the number of buckets written."""
    first = bucket_floor(start)
    last = bucket_floor(end - timedelta(microseconds=1)) if end > start else first
    with transaction.atomic():
        ConsumptionRollup.objects.filter(
            sensor_id=sensor_id, bucket_start__gte=first, bucket_start__lte=last
        ).delete()
        return _recompute([(sensor_id, first, last)])


def _contiguous(buckets: list[datetime]) -> Iterator[tuple[datetime, datetime]]:
    """(first, last) bucket starts of each run of consecutive buckets in a sorted list."""
    first = previous = buckets[0]
    for bucket in buckets[1:]:
        if bucket - previous != BUCKET:
            yield first, previous
            first = bucket
        previous = bucket
    yield first, previous


def _batches(
    ranges: list[tuple[int, datetime, datetime]],
) -> Iterable[list[tuple[int, datetime, datetime]]]:
    for index in range(0, len(ranges), RANGES_PER_QUERY):
        yield ranges[index : index + RANGES_PER_QUERY]


def _recompute(ranges: list[tuple[int, datetime, datetime]]) -> int:
    """Aggregate the readings of the given (sensor, first bucket, last bucket) ranges, one query
    per batch grouped by sensor, bucket and household (a bucket straddling a reassignment is cut
    at the period boundary into one row per household), and upsert the rollups."""
    written = 0
    for batch in _batches(ranges):
        rows = rollup_source_rows(
            ranges=[(sensor_id, first, last + BUCKET) for sensor_id, first, last in batch]
        )
        rollups = [
            ConsumptionRollup(
                sensor_id=row["sensor_id"],
                bucket_start=_aware(row["bucket"]),
                household_key=row["household_key"],
                consumption=row["consumption_sum"] or Decimal(0),
                inserted=row["inserted_sum"],
                readings=row["reading_count"],
                power_sum_w=row["power_sum"] or 0.0,
                power_count=row["power_count"],
                power_max_w=row["power_max"],
                power_min_w=row["power_min"],
                value_min=row["value_low"],
                value_max=row["value_high"],
            )
            for row in rows
        ]
        _stale_delete(batch, {(r.sensor_id, r.bucket_start, r.household_key) for r in rollups})
        ConsumptionRollup.objects.bulk_create(
            rollups,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["sensor", "bucket_start", "household_key"],
            update_fields=[
                "consumption",
                "inserted",
                "readings",
                "power_sum_w",
                "power_count",
                "power_max_w",
                "power_min_w",
                "value_min",
                "value_max",
                "updated_at",
            ],
        )
        written += len(rollups)
    return written


def _stale_delete(
    batch: list[tuple[int, datetime, datetime]], fresh: set[tuple[int, datetime, int]]
) -> None:
    """Delete rollups of the batch's buckets whose household no longer has readings there (the
    sensor's periods changed after they were computed), so no bucket keeps a wrong owner."""
    condition = Q()
    for sensor_id, first, last in batch:
        condition |= Q(sensor_id=sensor_id, bucket_start__gte=first, bucket_start__lte=last)
    stale = [
        pk
        for pk, sensor_id, bucket, key in ConsumptionRollup.objects.filter(condition).values_list(
            "pk", "sensor_id", "bucket_start", "household_key"
        )
        if (sensor_id, bucket, key) not in fresh
    ]
    if stale:
        ConsumptionRollup.objects.filter(pk__in=stale).delete()


def _aware(value: datetime | str) -> datetime:
    """A bucket value from the database as an aware UTC datetime (SQLite may give text)."""
    if isinstance(value, str):  # pragma: no cover - the DateTimeField converter parses it
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
