"""Fleet health for researchers: per sensor, when it was last seen, how many of the expected
readings arrived (from the 15-minute rollups) and what was rejected.

A fixed number of queries whatever the number of sensors: sensors with their latest reading
(index-only subquery on (sensor, timestamp)), rollup counts grouped by sensor, rejected readings
grouped by sensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from sensors.models import RejectedReading, Sensor
from sensors.selectors.readings import latest_reading_of_sensor

from ..models import ConsumptionRollup
from ..services.rollups import BUCKET, bucket_floor

READING_INTERVAL = timedelta(seconds=15)
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SensorHealth:
    """Health of one sensor. Shares are received / expected readings (expected: one per 15 s
    over the last full 15-minute buckets of the window); `missing_buckets_24h` counts the
    15-minute buckets of the last 24 h without any reading; `open_gap_since` is the last reading
    when nothing arrived for more than a bucket."""

    sensor_id: int
    client_id: str
    sensor_type: str
    household: str | None
    last_seen: datetime | None
    share_24h: float
    share_7d: float
    missing_buckets_24h: int
    open_gap_since: datetime | None
    rejected_24h: int


def fleet_health(*, now: datetime | None = None) -> list[SensorHealth]:
    """Health of every sensor, ordered by client id, in three queries."""
    now = now or timezone.now()
    window_end = bucket_floor(now)
    day_start = window_end - DAY
    week_start = window_end - WEEK
    expected_day = DAY / READING_INTERVAL
    expected_week = WEEK / READING_INTERVAL

    sensors = list(
        Sensor.objects.select_related("user")
        .annotate(last_seen=latest_reading_of_sensor("timestamp"))
        .order_by("client_id")
    )
    rollups = {
        row["sensor_id"]: row
        for row in ConsumptionRollup.objects.filter(
            bucket_start__gte=week_start, bucket_start__lt=window_end
        )
        .values("sensor_id")
        .annotate(
            week=Sum("readings"),
            day=Sum("readings", filter=Q(bucket_start__gte=day_start)),
            day_buckets=Count("id", filter=Q(bucket_start__gte=day_start)),
        )
        .order_by()
    }
    rejected = dict(
        RejectedReading.objects.filter(received_at__gte=now - DAY)
        .values("sensor_id")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("sensor_id", "count")
    )

    result = []
    for sensor in sensors:
        counts = rollups.get(sensor.pk, {})
        last_seen: datetime | None = getattr(sensor, "last_seen", None)
        gap_open = last_seen is None or now - last_seen > BUCKET
        result.append(
            SensorHealth(
                sensor_id=sensor.pk,
                client_id=sensor.client_id,
                sensor_type=sensor.sensor_type,
                household=sensor.user.email if sensor.user else None,
                last_seen=last_seen,
                share_24h=min(1.0, (counts.get("day") or 0) / expected_day),
                share_7d=min(1.0, (counts.get("week") or 0) / expected_week),
                missing_buckets_24h=int(DAY / BUCKET) - (counts.get("day_buckets") or 0),
                open_gap_since=last_seen if gap_open else None,
                rejected_24h=rejected.get(sensor.pk, 0),
            )
        )
    return result
