"""Reads of the research dataset: which sensors, how many rows, and the rows as CSV blocks.

The readings come in slices of at most `slice_rows` rows per sensor: the slice boundaries are
found with one index-only scan (every n-th timestamp), then each slice is read with
`COPY … TO STDOUT` on PostgreSQL or a server-side iterator elsewhere (identical bytes). Between
slices the connection is free, so the caller can record its progress on it. Memory stays
constant whatever the size. Households appear only as pseudonyms (`exports.pseudonyms`); no
names, e-mail addresses or MAC addresses are read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from analytics.models import DevicePeak, Sequence
from energyleaf.common.numbers import KWH, REGISTER, WATTS
from sensors.models import Reading, ReadingFlag, Sensor

from .csv import (
    coalesced,
    csv_blocks,
    csv_line,
    csv_lines,
    format_number,
    format_timestamp,
)
from .pseudonyms import pseudonym

if TYPE_CHECKING:
    from psycopg.abc import Buffer

CHUNK_ROWS = 2000
SLICE_ROWS = 100_000


@dataclass(frozen=True)
class Column:
    """One column of a dataset file, as the manifest documents it."""

    name: str
    unit: str
    description: str


READING_COLUMNS: tuple[Column, ...] = (
    Column("household", "", "Pseudonym of the household (HMAC-SHA256, see the manifest)."),
    Column("sensor", "", "Pseudonym of the sensor (same key)."),
    Column("sensor_type", "", "electricity, gas or water: the unit of the registers below."),
    Column("timestamp", "UTC", "Measurement time, ISO 8601 with milliseconds and Z."),
    Column("value", "kWh | m³", "Meter register (import), 4 decimals."),
    Column("consumption", "kWh | m³", "Import since the sensor's previous reading, 4 decimals."),
    Column("value_out", "kWh", "Feed-in register, 4 decimals; empty when not measured."),
    Column("inserted", "kWh", "Feed-in since the previous reading, 4 decimals; empty: unknown."),
    Column("value_current", "W", "Instantaneous power, 0.1 W; empty when not measured."),
    Column("flags", "", "Quality bit set: 0 as measured (see `quality`)."),
    Column("quality", "", "Names of the set flags joined by |."),
)
SEQUENCE_COLUMNS: tuple[Column, ...] = (
    Column("household", "", "Pseudonym of the household."),
    Column("sensor", "", "Pseudonym of the sensor."),
    Column("kind", "", "peak or anomaly."),
    Column("start", "UTC", "Start of the sequence, ISO 8601 with milliseconds and Z."),
    Column("end", "UTC", "End of the sequence (excluded)."),
    Column("average_power_w", "W", "Mean power during the sequence, 0.1 W."),
    Column("average_peak_power_w", "W", "Mean power above the base load, 0.1 W."),
    Column("energy_kwh", "kWh", "Energy used during the sequence, to the Wh."),
    Column("base_load_w", "W", "Base load before the sequence, 0.1 W; empty: unknown."),
    Column(
        "device_names",
        "",
        "Devices the household confirmed for this sequence, joined by | "
        "(their own free-text names, | inside a name written as /); empty: none.",
    ),
    Column("device_categories", "", "The confirmed devices' categories, same order."),
)
READING_HEADER = tuple(column.name for column in READING_COLUMNS)
SEQUENCE_HEADER = tuple(column.name for column in SEQUENCE_COLUMNS)


@dataclass(frozen=True)
class DatasetSensor:
    """A sensor of the dataset with the pseudonyms written for it."""

    sensor_id: int
    sensor_type: str
    household: str
    sensor: str


def dataset_sensors(*, user_ids: Iterable[int] | None, key: bytes) -> list[DatasetSensor]:
    """The sensors assigned to the households of `user_ids` (None: every household), by id."""
    sensors = Sensor.objects.filter(user__household__isnull=False)
    if user_ids is not None:
        sensors = sensors.filter(user_id__in=list(user_ids))
    return [
        DatasetSensor(
            sensor_id=sensor_id,
            sensor_type=sensor_type,
            household=pseudonym(key, "household", user_id),
            sensor=pseudonym(key, "sensor", sensor_id),
        )
        for sensor_id, sensor_type, user_id in sensors.order_by("pk").values_list(
            "pk", "sensor_type", "user_id"
        )
    ]


def _time_range(field: str, start: datetime | None, end: datetime | None) -> Q:
    condition = Q()
    if start is not None:
        condition &= Q(**{f"{field}__gte": start})
    if end is not None:
        condition &= Q(**{f"{field}__lt": end})
    return condition


def _readings(sensor_ids: list[int], start: datetime | None, end: datetime | None) -> QuerySet[Any]:
    return Reading.objects.filter(_time_range("timestamp", start, end), sensor_id__in=sensor_ids)


def _sequences(
    sensor_ids: list[int], start: datetime | None, end: datetime | None
) -> QuerySet[Sequence]:
    return Sequence.objects.filter(_time_range("start", start, end), sensor_id__in=sensor_ids)


def dataset_counts(
    *,
    sensors: list[DatasetSensor],
    start: datetime | None,
    end: datetime | None,
    readings: bool,
    sequences: bool,
) -> tuple[int, int]:
    """(readings, sequences) the dataset will hold (0 for what is not included)."""
    ids = [sensor.sensor_id for sensor in sensors]
    return (
        _readings(ids, start, end).count() if readings and ids else 0,
        _sequences(ids, start, end).count() if sequences and ids else 0,
    )


def reading_slices(
    *,
    sensor_id: int,
    start: datetime | None,
    end: datetime | None,
    slice_rows: int | None = None,
) -> list[tuple[datetime | None, datetime | None]]:
    """[from, to) ranges that each hold at most `slice_rows` (SLICE_ROWS) of the sensor's
    readings in [start, end): cut at every n-th reading's timestamp, found with one index scan."""
    slice_rows = slice_rows or SLICE_ROWS
    numbered = (
        _readings([sensor_id], start, end)
        .annotate(number=Window(RowNumber(), order_by=F("timestamp").asc()))
        .annotate(position=(F("number") - 1) % slice_rows)
        .filter(position=0, number__gt=1)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
    )
    cuts: list[datetime | None] = [start, *numbered, end]
    return list(itertools.pairwise(cuts))


def reading_blocks(
    *, sensor: DatasetSensor, start: datetime | None, end: datetime | None
) -> Iterator[bytes]:
    """The sensor's readings in [start, end) as CSV records (no header), ascending, in blocks of
    about 256 KiB."""
    prefix = [sensor.household, sensor.sensor, sensor.sensor_type]
    if connection.vendor == "postgresql":
        return coalesced(_readings_copy(sensor.sensor_id, prefix, start, end))
    return _readings_iterated(sensor.sensor_id, prefix, start, end)


_NUMBERS = ("value", "consumption", "value_out", "inserted", "value_current")
# Their decimals (energyleaf.common.numbers): registers and their differences, then power.
_DECIMALS = (REGISTER, REGISTER, REGISTER, REGISTER, WATTS)


def flag_names_sql() -> str:
    """SQL of the `|`-joined names of a reading's flags (NULL when none is set)."""
    names = ", ".join(
        f"CASE WHEN flags & {bit} <> 0 THEN '{label}' END"
        for bit, label in ReadingFlag.LABELS.items()
    )
    return f"NULLIF(concat_ws('|', {names}), '')"


def _readings_copy(
    sensor_id: int, prefix: list[str], start: datetime | None, end: datetime | None
) -> Iterator[Buffer]:
    numbers = ", ".join(
        f"trim_scale(round({name}, {places}))"
        for name, places in zip(_NUMBERS, _DECIMALS, strict=True)
    )
    stamp = """to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
    where = ["sensor_id = %s"]
    params: list[Any] = [*prefix, sensor_id]
    if start is not None:
        where.append('"timestamp" >= %s')
        params.append(start)
    if end is not None:
        where.append('"timestamp" < %s')
        params.append(end)
    statement = f"""COPY (
        SELECT %s, %s, %s, {stamp}, {numbers}, flags, {flag_names_sql()}
        FROM {Reading._meta.db_table}
        WHERE {" AND ".join(where)}
        ORDER BY "timestamp"
    ) TO STDOUT WITH (FORMAT csv)"""  # noqa: S608 - only our own identifiers are interpolated
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params) as copy:
        yield from copy


def _readings_iterated(
    sensor_id: int, prefix: list[str], start: datetime | None, end: datetime | None
) -> Iterator[bytes]:
    rows = (
        _readings([sensor_id], start, end)
        .order_by("timestamp")
        .values_list("timestamp", *_NUMBERS, "flags")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    yield from csv_blocks(
        (
            [
                *prefix,
                format_timestamp(moment),
                *(
                    format_number(number, places)
                    for number, places in zip(numbers, _DECIMALS, strict=True)
                ),
                str(flags),
                "|".join(ReadingFlag.names(flags)),
            ]
            for moment, *numbers, flags in rows
        ),
        CHUNK_ROWS,
    )


def sequence_blocks(
    *,
    sensors: list[DatasetSensor],
    start: datetime | None,
    end: datetime | None,
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The sensors' peaks and anomalies starting in [start, end) as CSV records (no header), by
    sensor, start and kind, with the devices their household confirmed. Free text (device names)
    is neutralised like every cell."""
    by_id = {sensor.sensor_id: sensor for sensor in sensors}
    rows = (
        _sequences(list(by_id), start, end)
        .order_by("sensor_id", "start", "kind")
        .values_list(
            "pk",
            "sensor_id",
            "kind",
            "start",
            "end",
            "average_power_w",
            "average_peak_power_w",
            "energy_kwh",
            "base_load_w",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield _sequence_block(chunk, by_id)
            if on_rows is not None:
                on_rows(len(chunk))
            chunk = []
    if chunk:
        yield _sequence_block(chunk, by_id)
        if on_rows is not None:
            on_rows(len(chunk))


def _sequence_block(chunk: list[tuple[Any, ...]], by_id: dict[int, DatasetSensor]) -> bytes:
    devices: dict[int, list[tuple[str, str]]] = {}
    confirmed = (
        DevicePeak.objects.filter(sequence_id__in=[row[0] for row in chunk])
        .order_by("sequence_id", "device_id")
        .values_list("sequence_id", "device__name", "device__category")
    )
    for sequence_id, name, category in confirmed:
        devices.setdefault(sequence_id, []).append((name.replace("|", "/"), category))
    lines = []
    for pk, sensor_id, kind, begin, finish, average, peak, energy, base in chunk:
        sensor = by_id[sensor_id]
        found = devices.get(pk, [])
        lines.append(
            [
                sensor.household,
                sensor.sensor,
                kind,
                format_timestamp(begin),
                format_timestamp(finish),
                format_number(average, WATTS),
                format_number(peak, WATTS),
                format_number(energy, KWH),
                format_number(base, WATTS),
                "|".join(name for name, _ in found),
                "|".join(category for _, category in found),
            ]
        )
    return csv_lines(lines).encode()


def header_line(columns: tuple[str, ...]) -> bytes:
    return csv_line(columns).encode()
