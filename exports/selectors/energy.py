"""Reads of the CSV exports: whose sensor, which range, and the rows as streamed CSV blocks.

Rows are never collected: on PostgreSQL the database writes each CSV line itself and a named
server-side cursor hands them out `readings.CURSOR_ROWS` at a time (the same bytes as
`COPY (SELECT …) TO STDOUT WITH CSV`, which hands out one message per row and is about half as
fast to read in Python); elsewhere `iterator(chunk_size=…)` rows are formatted in blocks. All give
identical bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet

from analytics.selectors.aggregates import consumption_aggregates
from energyleaf.common.exceptions import NotFoundError
from energyleaf.common.numbers import KWH, WATTS
from energyleaf.users.models import ExperimentParticipation
from energyleaf.users.selectors import household_time_zone
from exports.compute.csv import (
    AGGREGATE_HEADER,
    ENERGY_HEADER,
    EXPERIMENT_HEADER,
    csv_blocks,
    csv_line,
    csv_lines,
    format_number,
    format_timestamp,
)
from sensors.models import ReadingFlag
from sensors.selectors import household_sensor, readings
from sensors.selectors.assignments import Period, household_periods

Resolution = Literal["raw", "hour", "day"]
CHUNK_ROWS = 2000


@dataclass(frozen=True)
class EnergyExportTarget:
    """The household and sensor an energy export reads, and the household's zone."""

    user_id: int
    sensor_id: int
    time_zone: str


def energy_export_target(
    *, requester_id: int, may_read_all: bool, user_id: int | None, sensor_id: int | None
) -> EnergyExportTarget:
    """The sensor to export: `sensor_id` or the household's electricity sensor. Households see
    only sensors they hold or held (and only their own time with them); a requester who
    `may_read_all` (holds `sensors.view_reading`) any household's (`user_id`) or any assigned
    sensor (its current household's time with it).

    Raises NotFoundError for an unknown or foreign household or sensor (indistinguishable).
    """
    if not may_read_all and user_id is not None and user_id != requester_id:
        raise NotFoundError("No such household.", code="household_not_found")
    owner_id: int | None = user_id if user_id is not None else requester_id
    if may_read_all and user_id is None and sensor_id is not None:
        owner_id = None
    sensor = household_sensor(owner_id=owner_id, sensor_id=sensor_id)
    if owner_id is None and sensor is not None:
        owner_id = sensor.user_id
    if sensor is None or owner_id is None:
        raise NotFoundError("No such sensor for this household.", code="sensor_not_found")
    zone = household_time_zone(user_id=owner_id)
    return EnergyExportTarget(user_id=owner_id, sensor_id=sensor.pk, time_zone=zone.key)


def energy_export_range(
    *, start: date | datetime, end: date | datetime, time_zone: str, unlimited: bool
) -> tuple[datetime, datetime]:
    """The UTC range [start, end) of an export. Plain dates are local days of the household
    (`end` included); datetimes carry an offset. Households may ask for at most
    ENERGYLEAF_EXPORT_MAX_DAYS days (366 by default); `unlimited` (staff who may view readings)
    for any span."""
    zone = ZoneInfo(time_zone)
    first = _instant(start, zone, end=False)
    last = _instant(end, zone, end=True)
    if last <= first:
        raise ValidationError({"end": "end must be after start."})
    max_days = int(getattr(settings, "ENERGYLEAF_EXPORT_MAX_DAYS", 366))
    if not unlimited and last - first > timedelta(days=max_days):
        raise ValidationError({"end": f"At most {max_days} days per export."})
    return first, last


def _instant(value: date | datetime, zone: ZoneInfo, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError({"end" if end else "start": "A datetime needs an offset."})
        return value.astimezone(UTC)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def energy_csv_blocks(
    *,
    sensor_id: int,
    start: datetime,
    end: datetime,
    resolution: Resolution = "raw",
    time_zone: str,
    local_times: bool = False,
    user_id: int | None = None,
) -> Iterator[bytes]:
    """The CSV file (header first) of the sensor's data in [start, end), ascending, in blocks:
    only the household `user_id`'s time with the sensor when given (None: all of it).

    `raw`: one row per reading, the reference columns then `flags` and their names. `hour`/`day`:
    one row per local period of the household's zone. Timestamps are UTC (`…Z`) unless
    `local_times`, then in `time_zone` with its offset.
    """
    zone_name = time_zone
    out_zone = ZoneInfo(zone_name) if local_times else None
    periods = None if user_id is None else household_periods(user_id=user_id, sensor_id=sensor_id)
    if resolution != "raw":
        yield from _aggregate_blocks(
            sensor_id, start, end, resolution, zone_name, out_zone, household_key=user_id
        )
        return
    yield csv_line(ENERGY_HEADER).encode()
    if connection.vendor == "postgresql":
        yield from readings.energy_lines_cursor(
            sensor_id=sensor_id,
            start=start,
            end=end,
            zone_name=zone_name if local_times else None,
            periods=periods,
        )
    else:
        yield from _readings_iterated(sensor_id, start, end, out_zone, periods=periods)


def _readings_iterated(
    sensor_id: int,
    start: datetime,
    end: datetime,
    out_zone: ZoneInfo | None,
    *,
    periods: Sequence[Period] | None = None,
) -> Iterator[bytes]:
    rows = readings.energy_rows(
        sensor_id=sensor_id, start=start, end=end, periods=periods, chunk_size=CHUNK_ROWS
    )
    yield from csv_blocks(
        (
            [
                *(
                    format_number(number, places)
                    for number, places in zip(numbers, readings.NUMBER_DECIMALS, strict=True)
                ),
                format_timestamp(moment, out_zone),
                str(flags),
                "|".join(ReadingFlag.names(flags)),
            ]
            for *numbers, moment, flags in rows
        ),
        CHUNK_ROWS,
    )


def _aggregate_blocks(
    sensor_id: int,
    start: datetime,
    end: datetime,
    resolution: Literal["hour", "day"],
    zone_name: str,
    out_zone: ZoneInfo | None,
    *,
    household_key: int | None,
) -> Iterator[bytes]:
    yield csv_line(AGGREGATE_HEADER).encode()
    rows = consumption_aggregates(
        sensor_id=sensor_id,
        start=start,
        end=end,
        resolution=resolution,
        time_zone=zone_name,
        household_key=household_key,
    )
    for offset in range(0, len(rows), CHUNK_ROWS):
        yield csv_lines(
            [
                format_timestamp(row.start, out_zone),
                format_timestamp(row.end, out_zone),
                format_number(row.consumption_kwh, KWH),
                format_number(row.feed_in_kwh, KWH),
                format_number(row.average_power_w, WATTS),
                format_number(row.max_power_w, WATTS),
                str(row.readings),
            ]
            for row in rows[offset : offset + CHUNK_ROWS]
        ).encode()


def experiment_participants(
    *,
    status: str | None = ExperimentParticipation.Status.APPROVED,
    participation_ids: list[int] | None = None,
) -> QuerySet[ExperimentParticipation]:
    """Participants for the survey tool (the old `csv_experiment` export): flagged participants
    with an experiment number ≥ 0, in `status` (approved by default; None for all), ordered by
    user id; only the participations of `participation_ids` when given (the admin's
    selection)."""
    participants = ExperimentParticipation.objects.select_related("user").filter(
        user__is_participant=True, experiment_number__gte=0
    )
    if status is not None:
        participants = participants.filter(status=status)
    if participation_ids is not None:
        participants = participants.filter(pk__in=participation_ids)
    return participants.order_by("user_id")


def experiment_csv_blocks(
    *, status: str | None, participation_ids: list[int] | None = None
) -> Iterator[bytes]:
    """The participant CSV: header, then per participant firstname and lastname (commas made
    spaces), e-mail, token (`User.survey_tool_token`: the user id, or the old platform's id of
    an imported account, without `-`/`_`), status, number, prolific, paid."""
    yield csv_line(EXPERIMENT_HEADER).encode()
    participants = experiment_participants(status=status, participation_ids=participation_ids)
    yield from csv_blocks(
        (
            [
                participation.user.first_name.replace(",", " "),
                participation.user.last_name.replace(",", " "),
                participation.user.email,
                participation.user.survey_tool_token,
                participation.status,
                str(participation.experiment_number),
                str(participation.uses_prolific).lower(),
                str(participation.gets_paid).lower(),
            ]
            for participation in participants.iterator(chunk_size=CHUNK_ROWS)
        ),
        CHUNK_ROWS,
    )
