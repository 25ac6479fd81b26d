"""Reads of sensor assignment periods: whose data a reading is.

A reading belongs to the household whose period [start, end) holds its timestamp. Every read of
readings for a household goes through these periods (`periods_q`, `periods_sql`), so a sensor
passed on to another household never shows one household the other's data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from ..models import SensorAssignment

NO_HOUSEHOLD = 0
"""`household_key` of readings (and their rollups and sequences) outside every period."""


@dataclass(frozen=True)
class Period:
    """A sensor's time with one household: [start, end), `end` None while open. `household_key`
    is the household user's id (kept after the user is deleted, then `user_id` is None);
    NO_HOUSEHOLD for a gap between periods."""

    sensor_id: int
    household_key: int
    user_id: int | None
    start: datetime | None
    end: datetime | None

    def clip(
        self, start: datetime | None, end: datetime | None
    ) -> tuple[datetime | None, datetime | None] | None:
        """[start, end) cut to this period, or None when they do not meet (None: unbounded)."""
        first = _later(start, self.start)
        last = _earlier(end, self.end)
        if first is not None and last is not None and last <= first:
            return None
        return first, last


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _periods(rows: Iterable[SensorAssignment]) -> list[Period]:
    return [
        Period(row.sensor_id, row.household_key, row.user_id, row.valid_from, row.valid_to)
        for row in rows
    ]


def sensor_periods(*, sensor_id: int) -> list[Period]:
    """Every period of the sensor, oldest first."""
    return _periods(SensorAssignment.objects.filter(sensor_id=sensor_id).order_by("valid_from"))


def household_periods(
    *, user_id: int, sensor_id: int | None = None, sensor_type: str | None = None
) -> list[Period]:
    """The periods of a (live) household, of one sensor (or sensor type) or all, by sensor then
    time."""
    rows = SensorAssignment.objects.filter(user_id=user_id)
    if sensor_id is not None:
        rows = rows.filter(sensor_id=sensor_id)
    if sensor_type is not None:
        rows = rows.filter(sensor__sensor_type=sensor_type)
    return _periods(rows.order_by("sensor_id", "valid_from"))


def household_key_periods(*, household_key: int, sensor_id: int | None = None) -> list[Period]:
    """The periods with this household key (also of a deleted household), by sensor then time."""
    rows = SensorAssignment.objects.filter(household_key=household_key)
    if sensor_id is not None:
        rows = rows.filter(sensor_id=sensor_id)
    return _periods(rows.order_by("sensor_id", "valid_from"))


def periods_all(*, household_keys: Iterable[int] | None = None) -> list[Period]:
    """Every period (of the given household keys), by sensor then time."""
    rows = SensorAssignment.objects.all()
    if household_keys is not None:
        rows = rows.filter(household_key__in=list(household_keys))
    return _periods(rows.order_by("sensor_id", "valid_from"))


def household_key_at(*, sensor_id: int, moment: datetime) -> int:
    """The household_key of the period holding `moment` on the sensor, NO_HOUSEHOLD if none."""
    key = (
        SensorAssignment.objects.filter(sensor_id=sensor_id, valid_from__lte=moment)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=moment))
        .values_list("household_key", flat=True)
        .first()
    )
    return NO_HOUSEHOLD if key is None else key


def sensor_segments(*, sensor_id: int, start: datetime, end: datetime) -> list[Period]:
    """[start, end) cut into the sensor's periods and the gaps between them (gaps have
    household_key NO_HOUSEHOLD), in time order; every instant in exactly one segment."""
    return segments_of(
        sensor_periods(sensor_id=sensor_id), sensor_id=sensor_id, start=start, end=end
    )


def sensors_periods(*, sensor_ids: Iterable[int]) -> dict[int, list[Period]]:
    """The periods of each of the sensors (oldest first), in one query."""
    result: dict[int, list[Period]] = {}
    rows = SensorAssignment.objects.filter(sensor_id__in=list(sensor_ids)).order_by(
        "sensor_id", "valid_from"
    )
    for period in _periods(rows):
        result.setdefault(period.sensor_id, []).append(period)
    return result


def segments_of(
    periods: Sequence[Period], *, sensor_id: int, start: datetime, end: datetime
) -> list[Period]:
    """`sensor_segments` from the sensor's periods (oldest first) already read."""
    segments: list[Period] = []
    cursor = start
    for period in periods:
        clipped = period.clip(start, end)
        if clipped is None:
            continue
        first = clipped[0] or start
        last = clipped[1] or end
        if first > cursor:
            segments.append(Period(sensor_id, NO_HOUSEHOLD, None, cursor, first))
        segments.append(Period(sensor_id, period.household_key, period.user_id, first, last))
        cursor = last
    if cursor < end:
        segments.append(Period(sensor_id, NO_HOUSEHOLD, None, cursor, end))
    return segments


def periods_q(periods: Sequence[Period], *, field: str = "timestamp") -> Q:
    """An ORM condition: `field` in one of the periods (of their sensors). No periods: nothing."""
    if not periods:
        return Q(pk__in=[])
    condition = Q()
    for period in periods:
        part = Q(sensor_id=period.sensor_id)
        if period.start is not None:
            part &= Q(**{f"{field}__gte": period.start})
        if period.end is not None:
            part &= Q(**{f"{field}__lt": period.end})
        condition |= part
    return condition


def periods_sql(
    periods: Sequence[Period], *, column: str = '"timestamp"', sensor_column: str = "sensor_id"
) -> tuple[str, list[Any]]:
    """The SQL form of `periods_q`: a parenthesised condition and its parameters."""
    if not periods:
        return "(1 = 0)", []
    parts: list[str] = []
    params: list[Any] = []
    for period in periods:
        terms = [f"{sensor_column} = %s"]
        params.append(period.sensor_id)
        if period.start is not None:
            terms.append(f"{column} >= %s")
            params.append(period.start)
        if period.end is not None:
            terms.append(f"{column} < %s")
            params.append(period.end)
        parts.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(parts) + ")", params
