"""The daily retention clean-up deletes exactly what is past its retention, nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import F, Sum
from django.test import override_settings
from django.utils import timezone

from analytics.models import ConsumptionRollup
from analytics.services.retention import readings_retention_apply
from analytics.services.rollups import bucket_floor, rollups_refresh
from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from reports.tasks import cleanup_retention_task
from sensors.models import Reading, RejectedReading, Sensor
from sensors.tests.factories import SensorFactory, make_readings

pytestmark = pytest.mark.django_db

NOW = bucket_floor(timezone.now()) + timedelta(minutes=7)
DAY = timedelta(days=1)


def _event(age: timedelta) -> AuditEvent:
    event = audit_event_record(title="test/event", app_function="test")
    AuditEvent.objects.filter(pk=event.pk).update(timestamp=NOW - age)
    return event


def _rejected(sensor: Sensor, age: timedelta) -> RejectedReading:
    row = RejectedReading.objects.create(
        sensor=sensor,
        measured_at=NOW - age,
        reason="value_too_high",
        status_message="Value too high",
    )
    RejectedReading.objects.filter(pk=row.pk).update(received_at=NOW - age)
    return row


def _block(
    sensor: Sensor, start: datetime, count: int, *, received: datetime | None = None
) -> set[int]:
    """`count` readings every 15 s from `start`, received a minute after their time (or at
    `received`); returns their ids."""
    rows = make_readings(sensor, count, start=start)
    ids = {row.pk for row in rows}
    queryset = Reading.objects.filter(pk__in=ids)
    if received is None:
        queryset.update(received_at=F("timestamp") + timedelta(minutes=1))
    else:
        queryset.update(received_at=received)
    return ids


def _remaining(ids: set[int]) -> set[int]:
    return set(Reading.objects.filter(pk__in=ids).values_list("pk", flat=True))


def test_defaults_delete_old_audit_events_and_rejected_readings_but_no_readings() -> None:
    sensor = SensorFactory()
    old_event, kept_event = _event(366 * DAY), _event(364 * DAY)
    old_rejected, kept_rejected = _rejected(sensor, 91 * DAY), _rejected(sensor, 89 * DAY)
    old_readings = _block(sensor, NOW - 400 * DAY, 20)
    rollups_refresh(now=NOW)  # the old readings are in the rollups, yet kept by default

    deleted = cleanup_retention_task.delay(NOW.isoformat()).get()

    assert deleted == {"audit_events": 1, "rejected_readings": 1, "readings": 0}
    assert set(AuditEvent.objects.filter(title="test/event").values_list("pk", flat=True)) == {
        kept_event.pk
    }
    assert not AuditEvent.objects.filter(pk=old_event.pk).exists()
    assert set(RejectedReading.objects.values_list("pk", flat=True)) == {kept_rejected.pk}
    assert not RejectedReading.objects.filter(pk=old_rejected.pk).exists()
    assert _remaining(old_readings) == old_readings
    # Run again: nothing more is past retention.
    assert cleanup_retention_task.delay(NOW.isoformat()).get() == {
        "audit_events": 0,
        "rejected_readings": 0,
        "readings": 0,
    }


@override_settings(
    ENERGYLEAF_AUDIT_RETENTION_DAYS=0,
    ENERGYLEAF_REJECTED_READING_RETENTION_DAYS=0,
    ENERGYLEAF_READING_RETENTION_DAYS=0,
)
def test_zero_keeps_everything_forever() -> None:
    sensor = SensorFactory()
    _event(5000 * DAY)
    _rejected(sensor, 5000 * DAY)
    assert cleanup_retention_task.delay(NOW.isoformat()).get() == {
        "audit_events": 0,
        "rejected_readings": 0,
        "readings": 0,
    }
    assert AuditEvent.objects.filter(title="test/event").count() == 1
    assert RejectedReading.objects.count() == 1


@override_settings(ENERGYLEAF_READING_RETENTION_DAYS=30)
def test_readings_past_retention_go_once_in_the_rollups_and_the_rollups_stay() -> None:
    sensor = SensorFactory()
    old = _block(sensor, bucket_floor(NOW - 40 * DAY), 120)  # half an hour, 2 buckets
    young = _block(sensor, NOW - 20 * DAY, 40)
    newest = _block(sensor, NOW - timedelta(hours=1), 4)
    rollups_refresh(now=NOW)
    sums_before = ConsumptionRollup.objects.filter(sensor=sensor).aggregate(
        total=Sum("consumption")
    )["total"]
    buckets_before = ConsumptionRollup.objects.filter(sensor=sensor).count()

    deleted = cleanup_retention_task.delay(NOW.isoformat()).get()

    assert deleted["readings"] == len(old)
    assert _remaining(old) == set()
    assert _remaining(young | newest) == young | newest
    rollups = ConsumptionRollup.objects.filter(sensor=sensor)
    assert rollups.count() == buckets_before
    assert rollups.aggregate(total=Sum("consumption"))["total"] == sums_before
    # A later refresh changes no rollup (nothing deleted was received after the last one).
    rollups_refresh(now=NOW + timedelta(minutes=5))
    assert rollups.aggregate(total=Sum("consumption"))["total"] == sums_before
    assert readings_retention_apply(now=NOW) == 0


@override_settings(ENERGYLEAF_READING_RETENTION_DAYS=30)
def test_readings_are_never_deleted_before_the_rollups_hold_them() -> None:
    sensor = SensorFactory()
    old = _block(sensor, NOW - 400 * DAY, 20)
    assert readings_retention_apply(now=NOW) == 0  # no rollup refresh ever ran
    assert _remaining(old) == old


@override_settings(ENERGYLEAF_READING_RETENTION_DAYS=30)
def test_readings_received_after_the_rollups_keep_their_whole_bucket() -> None:
    sensor = SensorFactory()
    first_bucket = bucket_floor(NOW - 40 * DAY)
    shares_a_bucket = _block(sensor, first_bucket, 20)  # 5 minutes
    covered = _block(sensor, first_bucket + timedelta(hours=1), 20)
    # Arrived late (a sensor's buffer): same quarter hour as the first block, not yet summed.
    late = _block(sensor, first_bucket + timedelta(minutes=8), 1, received=NOW - DAY)
    # Measured before the cut-off but received after the last refresh.
    not_summed = _block(sensor, NOW - 36 * DAY, 20)
    newest = _block(sensor, NOW - timedelta(hours=1), 2, received=NOW - timedelta(hours=1))
    rollups_refresh(now=NOW - 37 * DAY)

    deleted = readings_retention_apply(now=NOW)

    assert deleted == len(covered)
    assert _remaining(covered) == set()
    kept = shares_a_bucket | late | not_summed | newest
    assert _remaining(kept) == kept


@override_settings(ENERGYLEAF_READING_RETENTION_DAYS=30)
def test_the_newest_reading_of_a_silent_sensor_is_kept() -> None:
    sensor = SensorFactory()
    old = _block(sensor, NOW - 100 * DAY, 10)
    rollups_refresh(now=NOW)
    last = Reading.objects.filter(sensor=sensor).order_by("-timestamp").first()
    assert last is not None

    assert readings_retention_apply(now=NOW) == len(old) - 1

    assert _remaining(old) == {last.pk}
    assert last.value == Decimal("1000") + Decimal("0.01") * 9
