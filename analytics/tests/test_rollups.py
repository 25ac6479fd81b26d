"""Incremental 15-minute rollups: exact against the raw readings, late readings, idempotence."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from analytics.models import ConsumptionRollup, RollupState
from analytics.selectors.aggregates import rollups_cover_until
from analytics.services.rollups import (
    OVERLAP,
    STATE_NAME,
    bucket_floor,
    rollups_rebuild,
    rollups_refresh,
)
from analytics.tasks import refresh_rollups_task
from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

START = datetime(2024, 7, 1, 10, 7, 30, tzinfo=UTC)
RECEIVED = datetime(2024, 7, 1, 11, 30, tzinfo=UTC)


def add_readings(
    sensor: Sensor, first: datetime, count: int, received_at: datetime, *, offset: int = 0
) -> None:
    """`count` readings 15 s apart from `first`, with varying consumption, feed-in and power,
    all received at `received_at`."""
    rows = [
        Reading(
            sensor=sensor,
            timestamp=first + timedelta(seconds=15 * i),
            value=Decimal("1000") + Decimal("0.003") * (i + offset),
            consumption=Decimal("0.001") * ((i + offset) % 7 + 1),
            inserted=Decimal("0.0005") * ((i + offset) % 3) if (i + offset) % 5 else None,
            value_current=Decimal(100 + (i + offset) % 11 * 10) if (i + offset) % 4 else None,
        )
        for i in range(count)
    ]
    Reading.objects.bulk_create(rows)
    Reading.objects.filter(pk__in=[row.pk for row in rows]).update(received_at=received_at)


def expected_rollups(sensor: Sensor) -> dict[datetime, dict[str, Any]]:
    """Rollups computed in Python from the raw readings."""
    groups: dict[datetime, list[Reading]] = defaultdict(list)
    for reading in Reading.objects.filter(sensor=sensor):
        groups[bucket_floor(reading.timestamp)].append(reading)
    result = {}
    for bucket, readings in groups.items():
        powers = [float(r.value_current) for r in readings if r.value_current is not None]
        inserted = [r.inserted for r in readings if r.inserted is not None]
        result[bucket] = {
            "consumption": sum((r.consumption for r in readings), Decimal(0)),
            "inserted": sum(inserted, Decimal(0)) if inserted else None,
            "readings": len(readings),
            "power_sum_w": sum(powers),
            "power_count": len(powers),
            "power_max_w": max(powers, default=None),
            "power_min_w": min(powers, default=None),
            "value_min": min(r.value for r in readings),
            "value_max": max(r.value for r in readings),
        }
    return result


def stored_rollups(sensor: Sensor) -> dict[datetime, dict[str, Any]]:
    names = [
        "consumption",
        "inserted",
        "readings",
        "power_sum_w",
        "power_count",
        "power_max_w",
        "power_min_w",
        "value_min",
        "value_max",
    ]
    return {
        row["bucket_start"]: {name: row[name] for name in names}
        for row in ConsumptionRollup.objects.filter(sensor=sensor).values("bucket_start", *names)
    }


def test_refresh_matches_the_raw_readings_per_bucket() -> None:
    sensor = SensorFactory()
    other = SensorFactory()
    add_readings(sensor, START, 240, RECEIVED)  # 10:07:30 .. 11:07:15, five buckets
    add_readings(other, START, 10, RECEIVED)

    result = rollups_refresh(now=RECEIVED + timedelta(minutes=10))

    expected = expected_rollups(sensor)
    assert sorted(expected) == [
        datetime(2024, 7, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=15 * k) for k in range(5)
    ]
    assert stored_rollups(sensor) == expected
    assert stored_rollups(other) == expected_rollups(other)
    assert result.buckets == 6
    assert result.sensors == 2
    assert result.read_from is None


def test_late_reading_reopens_its_old_bucket_and_rerun_is_idempotent() -> None:
    sensor = SensorFactory()
    add_readings(sensor, START, 240, RECEIVED)
    rollups_refresh(now=RECEIVED + timedelta(minutes=10))
    old_bucket = datetime(2024, 7, 1, 10, 15, tzinfo=UTC)
    before = ConsumptionRollup.objects.get(sensor=sensor, bucket_start=old_bucket)

    # A back-filled reading: old timestamp (between two stored ones), received a day later.
    late_received = RECEIVED + timedelta(days=1)
    late = Reading.objects.create(
        sensor=sensor,
        timestamp=datetime(2024, 7, 1, 10, 20, 7, tzinfo=UTC),
        value=Decimal("1000.05"),
        consumption=Decimal("0.5"),
        value_current=Decimal("9000"),
    )
    Reading.objects.filter(pk=late.pk).update(received_at=late_received)

    result = rollups_refresh(now=late_received + timedelta(minutes=10))

    after = ConsumptionRollup.objects.get(sensor=sensor, bucket_start=old_bucket)
    assert after.readings == before.readings + 1
    assert after.consumption == before.consumption + Decimal("0.5")
    assert after.power_max_w == 9000.0
    # The watermark is inclusive: the batch received at it is read again with the late reading.
    assert result.buckets == 5
    assert stored_rollups(sensor) == expected_rollups(sensor)

    snapshot = stored_rollups(sensor)
    again = rollups_refresh(now=late_received + timedelta(minutes=10))
    assert stored_rollups(sensor) == snapshot
    assert ConsumptionRollup.objects.filter(sensor=sensor).count() == 5
    assert again.buckets == 1  # the overlap re-reads the newest receive time, harmlessly


def test_watermark_moves_to_the_newest_receive_time_with_an_overlap_bound() -> None:
    sensor = SensorFactory()
    add_readings(sensor, START, 8, RECEIVED)

    now = RECEIVED + timedelta(minutes=30)
    rollups_refresh(now=now)
    assert RollupState.objects.get(name=STATE_NAME).watermark == RECEIVED
    # everything received up to the refresh (less the commit overlap) is in the rollups
    assert rollups_cover_until() == now - OVERLAP

    # Readings received a moment ago: the watermark stays OVERLAP behind now.
    recent = now + timedelta(minutes=5)
    add_readings(sensor, START + timedelta(hours=2), 4, recent)
    rollups_refresh(now=recent + timedelta(seconds=30))
    assert (
        RollupState.objects.get(name=STATE_NAME).watermark
        == recent + timedelta(seconds=30) - OVERLAP
    )

    # Nothing new: nothing recomputed beyond the overlap, the watermark does not go back.
    result = rollups_refresh(now=recent + timedelta(hours=1))
    assert result.watermark == recent
    assert rollups_cover_until() == recent + timedelta(hours=1) - OVERLAP
    assert result.buckets == 1


def test_refresh_ignores_readings_received_after_now() -> None:
    sensor = SensorFactory()
    add_readings(sensor, START, 8, RECEIVED)
    result = rollups_refresh(now=RECEIVED - timedelta(minutes=1))
    assert result.buckets == 0
    assert not ConsumptionRollup.objects.exists()
    assert result.watermark is None


def test_rebuild_recomputes_a_range_and_drops_empty_buckets() -> None:
    sensor = SensorFactory()
    add_readings(sensor, START, 240, RECEIVED)
    rollups_refresh(now=RECEIVED + timedelta(minutes=10))
    ConsumptionRollup.objects.filter(sensor=sensor).update(consumption=Decimal(99), readings=1)
    stray = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
    ConsumptionRollup.objects.create(
        sensor=sensor, bucket_start=stray, consumption=Decimal(1), readings=1
    )

    written = rollups_rebuild(
        sensor_id=sensor.pk,
        start=datetime(2024, 7, 1, 9, 0, tzinfo=UTC),
        end=datetime(2024, 7, 1, 12, 0, tzinfo=UTC),
    )

    assert written == 5
    assert stored_rollups(sensor) == expected_rollups(sensor)


def test_task_runs_the_refresh() -> None:
    sensor = SensorFactory()
    add_readings(sensor, START, 8, RECEIVED)
    assert refresh_rollups_task.delay().get() == 1
    assert refresh_rollups_task.name == "analytics.refresh_rollups"


def test_task_is_reachable_from_the_autodiscovered_tasks_module() -> None:
    from analytics import tasks

    assert tasks.refresh_rollups_task is refresh_rollups_task
