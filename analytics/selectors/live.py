"""A household's live figure (current power, today's consumption so far) and the health of the
sensors it holds (last reading, share of today's expected readings), cheap enough to poll every
15 s.

Today is the household's local day so far. Its sums come from the 15-minute rollups for the
buckets the last rollup refresh completed (before the bucket holding `rollups_cover_until`) and
from the raw readings only for the minutes after them (about 20 minutes with the refresh every
5 minutes): no scan of the day's readings. When the refresh is more than LIVE_TAIL_MAX behind,
the readings after the rollups are left out and `counted_until` says up to when the figures
count. Only the household's own time with each sensor counts (its assignment periods; rollups
are kept per household). Readings that arrive late for buckets already rolled up count once
the next refresh takes them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Sum

from energyleaf.users.selectors import household_time_zone
from sensors.models import Sensor
from sensors.selectors import household_sensors_held
from sensors.selectors.assignments import Period, household_periods
from sensors.selectors.readings import readings_newest, readings_sums_by_sensor

from ..models import ConsumptionRollup
from ..services.rollups import bucket_floor
from .aggregates import local_day_bounds, rollups_cover_until

LIVE_TAIL_MAX = timedelta(hours=1)
READING_INTERVAL = timedelta(seconds=15)


@dataclass(frozen=True)
class TodaySums:
    """Per sensor: consumption (kWh) and readings of the local day from `day_start` up to
    `counted_until`."""

    day_start: datetime
    counted_until: datetime
    by_sensor: dict[int, tuple[Decimal, int]]


@dataclass(frozen=True)
class LiveFigure:
    """Current power (W; None without a reading in the household's time with its electricity
    sensor) at `power_at`, and today's consumption so far (kWh) in the household's zone."""

    time_zone: str
    sensor_id: int | None
    power_w: float | None
    power_at: datetime | None
    day_start: datetime
    today_consumption_kwh: Decimal
    counted_until: datetime


@dataclass(frozen=True)
class OwnSensorHealth:
    """A sensor the household holds: its newest reading in the household's time with it, and
    the share (0-1) of the readings expected today (one per 15 s since local midnight or since
    the household got the sensor) that arrived; None before any time is expected."""

    sensor_id: int
    client_id: str
    sensor_type: str
    held_since: datetime | None
    last_reading_at: datetime | None
    readings_today: int
    expected_today: int
    share_today: float | None


def today_sums(
    *, household_key: int, periods: Sequence[Period], now: datetime, time_zone: str
) -> TodaySums:
    """The household's sums of its local day so far over `periods` (see the module doc): at
    most three queries (rollup coverage, rollups, the readings after them)."""
    today = now.astimezone(ZoneInfo(time_zone)).date()
    day_start = local_day_bounds(first_day=today, last_day=today, time_zone=time_zone)[0]
    periods = [period for period in periods if period.clip(day_start, now) is not None]
    if not periods:
        return TodaySums(day_start=day_start, counted_until=now, by_sensor={})
    covered = rollups_cover_until()
    boundary = day_start
    if covered is not None:
        boundary = min(max(day_start, bucket_floor(covered)), now)
    sums: dict[int, tuple[Decimal, int]] = {}
    if boundary > day_start:
        rows = (
            ConsumptionRollup.objects.filter(
                sensor_id__in=sorted({period.sensor_id for period in periods}),
                household_key=household_key,
                bucket_start__gte=day_start,
                bucket_start__lt=boundary,
            )
            .values("sensor_id")
            .annotate(total=Sum("consumption"), count=Sum("readings"))
            .order_by()
            .values_list("sensor_id", "total", "count")
        )
        sums = {sensor: (Decimal(total or 0), int(count or 0)) for sensor, total, count in rows}
    counted_until = now
    if now - boundary <= LIVE_TAIL_MAX:
        tail = readings_sums_by_sensor(periods=periods, start=boundary)
        for sensor_id, (total, count) in tail.items():
            before = sums.get(sensor_id, (Decimal(0), 0))
            sums[sensor_id] = (before[0] + total, before[1] + count)
    else:
        counted_until = boundary
    return TodaySums(day_start=day_start, counted_until=counted_until, by_sensor=sums)


def household_live(*, user_id: int, now: datetime) -> LiveFigure:
    """The household's live figure: its electricity sensors' periods, its zone, today's sums and
    the newest readings of the sensor it holds, in at most six queries."""
    periods = household_periods(user_id=user_id, sensor_type=Sensor.SensorType.ELECTRICITY)
    zone = household_time_zone(user_id=user_id).key
    sums = today_sums(household_key=user_id, periods=periods, now=now, time_zone=zone)
    held = next((period for period in periods if period.end is None), None)
    power_w: float | None = None
    power_at: datetime | None = None
    if held is not None:
        newest = readings_newest(sensor_id=held.sensor_id, since=held.start)
        if newest:
            power_at, consumption, current = newest[0]
            if current is not None:
                power_w = float(current)
            elif len(newest) == 2 and newest[0][0] > newest[1][0]:
                # No power sent: the energy since the previous reading over its duration.
                hours = (newest[0][0] - newest[1][0]) / timedelta(hours=1)
                power_w = float(consumption) * 1000 / hours
    zone_info = ZoneInfo(zone)
    return LiveFigure(
        time_zone=zone,
        sensor_id=held.sensor_id if held is not None else None,
        power_w=power_w,
        power_at=power_at.astimezone(zone_info) if power_at is not None else None,
        day_start=sums.day_start.astimezone(zone_info),
        today_consumption_kwh=sum(
            (total for total, _ in sums.by_sensor.values()), start=Decimal(0)
        ),
        counted_until=sums.counted_until.astimezone(zone_info),
    )


def household_sensor_health(*, user_id: int, now: datetime) -> list[OwnSensorHealth]:
    """The health of each sensor the household holds now, in at most five queries."""
    sensors = household_sensors_held(user_id=user_id)
    zone = household_time_zone(user_id=user_id).key
    periods = [
        Period(sensor.pk, user_id, user_id, sensor.held_since, None)  # type: ignore[attr-defined]
        for sensor in sensors
    ]
    sums = today_sums(household_key=user_id, periods=periods, now=now, time_zone=zone)
    zone_info = ZoneInfo(zone)
    result = []
    for sensor in sensors:
        held_since: datetime | None = sensor.held_since  # type: ignore[attr-defined]
        last: datetime | None = sensor.last_reading_at  # type: ignore[attr-defined]
        start = sums.day_start if held_since is None else max(sums.day_start, held_since)
        expected = max(0, int((sums.counted_until - start) / READING_INTERVAL))
        received = sums.by_sensor.get(sensor.pk, (Decimal(0), 0))[1]
        result.append(
            OwnSensorHealth(
                sensor_id=sensor.pk,
                client_id=sensor.client_id,
                sensor_type=sensor.sensor_type,
                held_since=held_since.astimezone(zone_info) if held_since else None,
                last_reading_at=last.astimezone(zone_info) if last else None,
                readings_today=received,
                expected_today=expected,
                share_today=min(1.0, received / expected) if expected else None,
            )
        )
    return result
