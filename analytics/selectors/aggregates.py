"""Consumption, feed-in and power per local hour, day, week or month, from the 15-minute rollups;
and a household's exact consumption per local day (`household_daily_consumption`, what reports
show), from the rollups or the readings.

Local periods are built with an explicit ZoneInfo (days of 23 or 25 hours at DST changes, weeks
from Monday, calendar months) and turned into UTC boundaries; every real zone's offset is a
multiple of 15 minutes, so each UTC bucket falls into exactly one local period. One query: on
PostgreSQL it sums per period itself (only one row per period crosses the wire); elsewhere the
rollups of the range are read in order and summed in one pass.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple, cast
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import connection, models
from django.db.models import Q, Sum
from django.db.models.functions import Cast

from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.selectors import household_time_zone
from sensors.selectors import household_sensor
from sensors.selectors.assignments import Period
from sensors.selectors.readings import reading_day_sums

from ..models import ROLLUP_STATE_NAME, ConsumptionRollup, RollupState

Resolution = Literal["hour", "day", "week", "month"]
RESOLUTIONS: tuple[Resolution, ...] = ("hour", "day", "week", "month")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)
# The rollups serve a household's day sums when they hold every reading received this long after
# the last day (pushes in flight, a Pi's buffered batch after a short outage).
ROLLUP_GRACE = timedelta(minutes=15)


def rollups_cover_until() -> datetime | None:
    """The instant before which every received reading is in the rollups (the last refresh's
    time less its overlap), or None before the first refresh."""
    return (
        RollupState.objects.filter(name=ROLLUP_STATE_NAME)
        .values_list("covers_until", flat=True)
        .first()
    )


class AggregateRow(NamedTuple):
    """One local period: [start, end) as aware datetimes in the household's zone; energy in kWh
    (m³ for gas and water), power in W (None without power readings)."""

    start: datetime
    end: datetime
    consumption_kwh: float
    feed_in_kwh: float
    average_power_w: float | None
    max_power_w: float | None
    readings: int


def local_period_bounds(
    *, start: datetime, end: datetime, resolution: Resolution, time_zone: str
) -> list[datetime]:
    """Aware local starts of the periods covering [start, end), plus the end of the last one.

    The first period is the one holding `start`; the last one the one holding the instant just
    before `end`.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        return []
    zone = ZoneInfo(time_zone)
    if resolution == "hour":
        return _hour_bounds(start, end, zone)
    local_start = start.astimezone(zone).date()
    if resolution == "week":
        local_start -= timedelta(days=local_start.weekday())
    elif resolution == "month":
        local_start = local_start.replace(day=1)
    bounds = [_local_midnight(local_start, zone)]
    day = local_start
    while bounds[-1] < end:
        day = _next_day(day, resolution)
        bounds.append(_local_midnight(day, zone))
    return bounds


def consumption_aggregates(
    *,
    sensor_id: int,
    start: datetime,
    end: datetime,
    resolution: Resolution,
    time_zone: str,
    household_key: int | None = None,
) -> list[AggregateRow]:
    """Per local period of `resolution` in `time_zone` covering [start, end): the summed rollups
    of the sensor, only of the household `household_key`'s time with it when given (None: every
    rollup of the sensor, for admins). Periods without readings are included with zero energy
    and `readings` 0."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}")
    bounds = local_period_bounds(start=start, end=end, resolution=resolution, time_zone=time_zone)
    if not bounds:
        return []
    count = len(bounds) - 1
    consumption = [0.0] * count
    feed_in = [0.0] * count
    power_sum = [0.0] * count
    power_count = [0] * count
    power_max: list[float | None] = [None] * count
    readings = [0] * count

    sums: Iterable[_PeriodSums] | None = None
    if connection.vendor == "postgresql":
        sums = _period_sums_postgresql(sensor_id, household_key, bounds, resolution, time_zone)
    if sums is None:
        sums = _period_sums_python(
            sensor_id, household_key, [bound.astimezone(UTC) for bound in bounds]
        )
    for index, used, fed, number, p_sum, p_count, p_max in sums:
        consumption[index] += used or 0.0
        feed_in[index] += fed or 0.0
        readings[index] += number
        if p_count:
            power_sum[index] += p_sum
            power_count[index] += p_count
            current = power_max[index]
            if p_max is not None and (current is None or p_max > current):
                power_max[index] = p_max

    return [
        AggregateRow(
            start=bounds[k],
            end=bounds[k + 1],
            consumption_kwh=consumption[k],
            feed_in_kwh=feed_in[k],
            average_power_w=power_sum[k] / power_count[k] if power_count[k] else None,
            max_power_w=power_max[k],
            readings=readings[k],
        )
        for k in range(count)
    ]


_PeriodSums = tuple[int, float | None, float | None, int, float, int, float | None]


def _period_sums_postgresql(
    sensor_id: int,
    household_key: int | None,
    bounds: list[datetime],
    resolution: Resolution,
    time_zone: str,
) -> list[_PeriodSums] | None:
    """Sums per period computed by PostgreSQL, one row per period: local days, weeks and months
    by `date_trunc(unit, bucket_start, zone)` (DST-correct, gives the period's first instant);
    local hours by `date_bin('1 hour')` from an origin on the zone's minute offset, so the doubled
    hour of a DST change stays two hours. None when a period start is not one of `bounds` (a
    zone whose minute offset changes within the range): the caller falls back."""
    table = ConsumptionRollup._meta.db_table
    params: list[object]
    if resolution == "hour":
        offset = bounds[0].utcoffset() or timedelta()
        origin = _EPOCH_2000 + timedelta(minutes=(-(offset // MINUTE)) % 60)
        period_sql, params = "date_bin('1 hour', bucket_start, %s)", [origin]
    else:
        unit = {"day": "day", "week": "week", "month": "month"}[resolution]
        period_sql, params = f"date_trunc('{unit}', bucket_start, %s)", [time_zone]
    household_sql = "" if household_key is None else " AND household_key = %s"
    sql = f"""
        SELECT extract(epoch FROM {period_sql})::bigint AS period,
               sum(consumption)::float8, sum(inserted)::float8, sum(readings)::bigint,
               sum(power_sum_w), sum(power_count)::bigint, max(power_max_w)
        FROM {table}
        WHERE sensor_id = %s AND bucket_start >= %s AND bucket_start < %s{household_sql}
        GROUP BY period
    """  # noqa: S608 - table and unit are our own constants; every value is a parameter
    # Periods as epoch seconds: loading thousands of timestamps costs more than the query.
    index_of = {int(bound.timestamp()): index for index, bound in enumerate(bounds[:-1])}
    household_params = [] if household_key is None else [household_key]
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [*params, sensor_id, bounds[0], bounds[-1], *household_params],  # type: ignore[list-item]
        )
        rows = cursor.fetchall()
    result = []
    for period, *sums in rows:
        index = index_of.get(period)
        if index is None:
            return None
        result.append(cast(_PeriodSums, (index, *sums)))
    return result


def _period_sums_python(
    sensor_id: int, household_key: int | None, utc_bounds: list[datetime]
) -> Iterator[_PeriodSums]:
    """Sums per rollup, with its period found in one ordered pass (any database)."""
    float_field: models.FloatField[float, float] = models.FloatField()
    rollups = ConsumptionRollup.objects.filter(
        sensor_id=sensor_id, bucket_start__gte=utc_bounds[0], bucket_start__lt=utc_bounds[-1]
    )
    if household_key is not None:
        rollups = rollups.filter(household_key=household_key)
    rows = rollups.order_by("bucket_start").values_list(
        "bucket_start",
        Cast("consumption", float_field),
        Cast("inserted", float_field),
        "readings",
        "power_sum_w",
        "power_count",
        "power_max_w",
    )
    index = 0
    next_bound = utc_bounds[1]
    for bucket, used, fed, number, p_sum, p_count, p_max in rows:
        if bucket >= next_bound:
            index = bisect_right(utc_bounds, bucket, lo=index + 1) - 1
            next_bound = utc_bounds[index + 1]
        yield index, used, fed, number, p_sum, p_count, p_max


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day (normalised if midnight does not exist there)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).astimezone(zone)


def _next_day(day: date, resolution: Resolution) -> date:
    if resolution == "day":
        return day + timedelta(days=1)
    if resolution == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _hour_bounds(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local hour starts from the hour holding `start` to the first at or after `end`, stepping in
    UTC so the repeated hour of a DST change appears twice and the skipped one never."""
    local = start.astimezone(zone)
    current = (local - timedelta(minutes=local.minute, seconds=local.second)).replace(microsecond=0)
    current_utc = current.astimezone(UTC)
    bounds = [current]
    while current_utc < end:
        current_utc += HOUR
        current = current_utc.astimezone(zone)
        if current.minute:  # an offset change by a fraction of an hour (e.g. Lord Howe)
            current_utc -= timedelta(minutes=current.minute)
            current = current_utc.astimezone(zone)
        bounds.append(current)
    return bounds


@dataclass(frozen=True)
class AggregateTarget:
    """The sensor whose aggregates are asked for, the zone of its household, and the household
    whose time with the sensor counts (None: all of the sensor's rollups, an admin's view of an
    unassigned sensor)."""

    sensor_id: int
    time_zone: str
    household_key: int | None = None


def aggregate_target(
    *, requester_id: int, may_read_all: bool, user_id: int | None, sensor_id: int | None
) -> AggregateTarget:
    """The sensor to aggregate: `sensor_id` if visible to the requester, else the electricity
    sensor of the household (`user_id`, only when `may_read_all`: the requester may read every
    household's aggregates; the requester's own by default).

    A household sees the sensors it holds or held, and only its own time with each. Raises
    PermissionDenied for another household's `user_id` without `may_read_all`, and
    NotFoundError for a sensor that does not exist or was never the household's
    (indistinguishable on purpose).
    """
    if user_id is not None and user_id != requester_id and not may_read_all:
        raise PermissionDenied("You may not read another household's aggregates.")
    owner_id = user_id if user_id is not None else requester_id
    whole_sensor = may_read_all and user_id is None and sensor_id is not None
    sensor = household_sensor(owner_id=None if whole_sensor else owner_id, sensor_id=sensor_id)
    if sensor is None:
        raise NotFoundError("No such sensor for this household.", code="sensor_not_found")
    household_key: int | None = owner_id
    if whole_sensor:
        # An admin asking for a sensor: its current household's time with it, as csv_energy
        # gives; all of an unassigned sensor's rollups.
        household_key = sensor.user_id
    # The sensor comes with its household loaded; an unassigned sensor has the default zone.
    zone = (
        household_time_zone(user=sensor.user)
        if whole_sensor
        else household_time_zone(user_id=owner_id)
    )
    return AggregateTarget(sensor_id=sensor.pk, time_zone=zone.key, household_key=household_key)


# --- a household's consumption per local day ------------------------------------------------------


class DailyConsumption(NamedTuple):
    """A household's consumption per local day in kWh (exact decimals, not rounded; 0 for a day
    without data), first day first, and the number of readings summed."""

    days_kwh: list[Decimal]
    readings: int


def local_day_bounds(*, first_day: date, last_day: date, time_zone: str) -> list[datetime]:
    """The local midnights of `first_day`..`last_day` in `time_zone` and the one after the last
    day, as aware UTC datetimes (`bounds[i]` starts day i; DST days have 23 or 25 hours)."""
    zone = ZoneInfo(time_zone)
    # Instants inside the first and the last day; the bounds are the days' local midnights.
    bounds = local_period_bounds(
        start=datetime.combine(first_day, time(12), tzinfo=zone),
        end=datetime.combine(last_day, time(13), tzinfo=zone),
        resolution="day",
        time_zone=time_zone,
    )
    return [bound.astimezone(UTC) for bound in bounds]


def household_daily_consumption(
    *,
    household_key: int,
    periods: Sequence[Period],
    first_day: date,
    last_day: date,
    time_zone: str,
) -> DailyConsumption:
    """The consumption of the household's `periods` (its time with each sensor) per local day
    [local midnight, next local midnight) of `time_zone`, `first_day`..`last_day`, in one query.

    Source: the 15-minute rollups when they are complete for the days, that is when the last
    rollup refresh covers every reading received up to ROLLUP_GRACE after the last day's end
    (`rollups_cover_until`); otherwise (e.g. right after midnight, or when the refresh is behind)
    the raw readings. Both are summed with exact decimals (grouped by local date on PostgreSQL;
    local midnights are whole quarter hours in every real zone, so buckets never straddle two
    days) and give the same figures to the Wh. A reading that arrives later is in neither.
    """
    bounds = local_day_bounds(first_day=first_day, last_day=last_day, time_zone=time_zone)
    covered = rollups_cover_until()
    if covered is None or covered < bounds[-1] + ROLLUP_GRACE:
        days, readings = reading_day_sums(
            periods=periods, bounds=bounds, time_zone=time_zone, first_day=first_day
        )
        return DailyConsumption(days_kwh=days, readings=readings)
    sensor_ids = sorted({period.sensor_id for period in periods})
    if connection.vendor == "postgresql":
        return _rollup_day_sums_postgresql(
            household_key=household_key,
            sensor_ids=sensor_ids,
            bounds=bounds,
            time_zone=time_zone,
            first_day=first_day,
        )
    sums: dict[str, Any] = {
        f"day_{i}": Sum(
            "consumption", filter=Q(bucket_start__gte=bounds[i], bucket_start__lt=bounds[i + 1])
        )
        for i in range(len(bounds) - 1)
    }
    row = ConsumptionRollup.objects.filter(
        sensor_id__in=sensor_ids,
        household_key=household_key,
        bucket_start__gte=bounds[0],
        bucket_start__lt=bounds[-1],
    ).aggregate(readings=Sum("readings"), **sums)
    return DailyConsumption(
        days_kwh=[Decimal(row[f"day_{i}"] or 0) for i in range(len(bounds) - 1)],
        readings=int(row["readings"] or 0),
    )


def _rollup_day_sums_postgresql(
    *,
    household_key: int,
    sensor_ids: list[int],
    bounds: list[datetime],
    time_zone: str,
    first_day: date,
) -> DailyConsumption:
    # `AT TIME ZONE` turns each instant into the household's wall clock, so the date is the
    # local day: [local midnight, next local midnight), 23 or 25 hours at DST changes.
    sql = (
        "SELECT (bucket_start AT TIME ZONE %s)::date, SUM(consumption), SUM(readings) "  # noqa: S608
        f"FROM {ConsumptionRollup._meta.db_table} "
        "WHERE sensor_id = ANY(%s) AND household_key = %s "
        "AND bucket_start >= %s AND bucket_start < %s GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [time_zone, sensor_ids, household_key, bounds[0], bounds[-1]])
        rows = cursor.fetchall()
    by_day = {day: Decimal(total) for day, total, _ in rows}
    days = [by_day.get(first_day + timedelta(days=i), Decimal(0)) for i in range(len(bounds) - 1)]
    return DailyConsumption(days_kwh=days, readings=sum(int(count) for _, _, count in rows))
