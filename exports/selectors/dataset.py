"""Reads of the research dataset: which sensors, how many rows, and the rows as CSV blocks.

The readings come in slices of at most `slice_rows` rows per sensor: the slice boundaries are
found with one index-only scan (every n-th timestamp), then each slice is read with
`COPY … TO STDOUT` on PostgreSQL or a server-side iterator elsewhere (identical bytes). Between
slices the connection is free, so the caller can record its progress on it. Memory stays
constant whatever the size. Households appear only as pseudonyms (`exports.services.pseudonyms`); no
names, e-mail addresses or MAC addresses are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Q, QuerySet

from analytics.models import DevicePeak, Sequence
from energyleaf.common.numbers import KWH, WATTS
from energyleaf.users.models import Household
from exports.compute.csv import (
    coalesced,
    csv_blocks,
    csv_line,
    csv_lines,
    format_number,
    format_timestamp,
)
from exports.compute.parquet import ParquetColumn as Column
from exports.services.pseudonyms import pseudonym
from sensors.models import ReadingFlag, Sensor
from sensors.selectors.assignments import Period, periods_all
from sensors.selectors.readings import (
    NUMBER_DECIMALS,
    dataset_reading_copy,
    dataset_reading_rows,
    reading_slice_cuts,
    readings_count,
)

if TYPE_CHECKING:
    from psycopg.abc import Buffer

CHUNK_ROWS = 2000
SLICE_ROWS = 100_000


REGISTER_TYPE = "decimal128(38, 4)"  # numeric(30, 6) rounded to 4 places: never overflows
WATTS_TYPE = "decimal128(38, 1)"
TIME_TYPE = "timestamp[ms, tz=UTC]"

READING_COLUMNS: tuple[Column, ...] = (
    Column(
        "household", "string", "", "Pseudonym of the household (HMAC-SHA256, see the manifest)."
    ),
    Column("sensor", "string", "", "Pseudonym of the sensor (same key)."),
    Column(
        "sensor_type", "string", "", "electricity, gas or water: the unit of the registers below."
    ),
    Column("timestamp", TIME_TYPE, "UTC", "Measurement time, ISO 8601 with milliseconds and Z."),
    Column("value", REGISTER_TYPE, "kWh | m³", "Meter register (import), 4 decimals."),
    Column(
        "consumption",
        REGISTER_TYPE,
        "kWh | m³",
        "Import since the sensor's previous reading, 4 decimals.",
    ),
    Column(
        "value_out", REGISTER_TYPE, "kWh", "Feed-in register, 4 decimals; empty when not measured."
    ),
    Column(
        "inserted",
        REGISTER_TYPE,
        "kWh",
        "Feed-in since the previous reading, 4 decimals; empty: unknown.",
    ),
    Column(
        "value_current", WATTS_TYPE, "W", "Instantaneous power, 0.1 W; empty when not measured."
    ),
    Column("flags", "int16", "", "Quality bit set: 0 as measured (see `quality`)."),
    Column("quality", "string", "", "Names of the set flags joined by |."),
)
SEQUENCE_COLUMNS: tuple[Column, ...] = (
    Column("household", "string", "", "Pseudonym of the household."),
    Column("sensor", "string", "", "Pseudonym of the sensor."),
    Column("kind", "string", "", "peak or anomaly."),
    Column("start", TIME_TYPE, "UTC", "Start of the sequence, ISO 8601 with milliseconds and Z."),
    Column("end", TIME_TYPE, "UTC", "End of the sequence (excluded)."),
    Column("average_power_w", "double", "W", "Mean power during the sequence, 0.1 W."),
    Column("average_peak_power_w", "double", "W", "Mean power above the base load, 0.1 W."),
    Column("energy_kwh", "double", "kWh", "Energy used during the sequence, to the Wh."),
    Column("base_load_w", "double", "W", "Base load before the sequence, 0.1 W; empty: unknown."),
    Column(
        "device_names",
        "string",
        "",
        "Devices the household confirmed for this sequence, joined by | "
        "(their own free-text names, | inside a name written as /); empty: none.",
    ),
    Column("device_categories", "string", "", "The confirmed devices' categories, same order."),
)
HOUSEHOLD_COLUMNS: tuple[Column, ...] = (
    Column("household", "string", "", "Pseudonym of the household (as in the other files)."),
    Column(
        "arm",
        "int16",
        "",
        "Study arm (the old platform's app_version): 0 transparency, 1 self-reflection, "
        "2 support; empty: unknown.",
    ),
    Column("arm_name", "string", "", "The arm's name: transparency, self_reflection or support."),
    Column("household_size", "int16", "persons", "People living in the household; empty: unknown."),
    Column("property_type", "string", "", "house or apartment; empty: unknown."),
    Column("living_space_m2", "int64", "m²", "Living space; empty: unknown."),
    Column("hot_water", "string", "", "electric or not_electric; empty: unknown."),
    Column("tariff", "string", "", "Electricity tariff: basic or eco; empty: unknown."),
    Column(
        "deleted",
        "bool",
        "",
        "true: the household's account was deleted and its readings were kept for the study; "
        "its arm and covariates are no longer known (empty).",
    ),
)
READING_HEADER = tuple(column.name for column in READING_COLUMNS)
SEQUENCE_HEADER = tuple(column.name for column in SEQUENCE_COLUMNS)
HOUSEHOLD_HEADER = tuple(column.name for column in HOUSEHOLD_COLUMNS)


@dataclass(frozen=True)
class DatasetSensor:
    """A sensor's time with one household in the dataset (its assignment `period`), with the
    pseudonyms written for it: each reading and sequence is labelled with the household that held
    the sensor at its time."""

    sensor_id: int
    sensor_type: str
    household: str
    sensor: str
    period: Period

    def clip(
        self, start: datetime | None, end: datetime | None
    ) -> tuple[datetime | None, datetime | None] | None:
        """[start, end) cut to the period, None when they do not meet."""
        return self.period.clip(start, end)


def dataset_sensors(*, user_ids: Iterable[int] | None, key: bytes) -> list[DatasetSensor]:
    """The assignment periods of the households of `user_ids` (None: every household, including
    deleted ones whose readings were left to the study), by sensor and time."""
    if user_ids is None:
        periods = [
            period
            for period in periods_all()
            if period.user_id is None or period.user_id in _households()
        ]
    else:
        periods = periods_all(household_keys=list(user_ids))
        periods = [period for period in periods if period.user_id is not None]
    types = dict(
        Sensor.objects.filter(pk__in={period.sensor_id for period in periods}).values_list(
            "pk", "sensor_type"
        )
    )
    return [
        DatasetSensor(
            sensor_id=period.sensor_id,
            sensor_type=types[period.sensor_id],
            household=pseudonym(key, "household", period.household_key),
            sensor=pseudonym(key, "sensor", period.sensor_id),
            period=period,
        )
        for period in periods
    ]


def _households() -> set[int]:
    return set(Household.objects.values_list("user_id", flat=True))


def _time_range(field: str, start: datetime | None, end: datetime | None) -> Q:
    condition = Q()
    if start is not None:
        condition &= Q(**{f"{field}__gte": start})
    if end is not None:
        condition &= Q(**{f"{field}__lt": end})
    return condition


def _sequences(
    sensors: list[DatasetSensor], start: datetime | None, end: datetime | None
) -> QuerySet[Sequence]:
    """The sequences detected in the sensors' periods, starting in [start, end)."""
    if not sensors:
        return Sequence.objects.none()
    condition = Q()
    for sensor in sensors:
        condition |= Q(sensor_id=sensor.sensor_id, household_key=sensor.period.household_key) & (
            _time_range("start", sensor.period.start, sensor.period.end)
        )
    return Sequence.objects.filter(condition, _time_range("start", start, end))


def dataset_counts(
    *,
    sensors: list[DatasetSensor],
    start: datetime | None,
    end: datetime | None,
    readings: bool,
    sequences: bool,
) -> tuple[int, int]:
    """(readings, sequences) the dataset will hold (0 for what is not included)."""
    periods = [sensor.period for sensor in sensors]
    return (
        readings_count(periods=periods, start=start, end=end) if readings and periods else 0,
        _sequences(sensors, start, end).count() if sequences and sensors else 0,
    )


def reading_slices(
    *,
    sensor: DatasetSensor,
    start: datetime | None,
    end: datetime | None,
) -> list[tuple[datetime | None, datetime | None]]:
    """[from, to) ranges that each hold at most SLICE_ROWS of the readings of the
    sensor's period in [start, end) (cut to the period): cut at every n-th reading's timestamp,
    found with one index scan. No range when the period is outside [start, end)."""
    clipped = sensor.clip(start, end)
    if clipped is None:
        return []
    return reading_slice_cuts(
        period=sensor.period, start=clipped[0], end=clipped[1], slice_rows=SLICE_ROWS
    )


def reading_blocks(
    *, sensor: DatasetSensor, start: datetime | None, end: datetime | None
) -> Iterator[bytes]:
    """The readings of the sensor's period in [start, end) as CSV records (no header),
    ascending, in blocks of about 256 KiB."""
    prefix = [sensor.household, sensor.sensor, sensor.sensor_type]
    if connection.vendor == "postgresql":
        return coalesced(_readings_copy(sensor, prefix, start, end))
    return _readings_iterated(sensor, prefix, start, end)


def _readings_copy(
    sensor: DatasetSensor, prefix: list[str], start: datetime | None, end: datetime | None
) -> Iterator[Buffer]:
    return dataset_reading_copy(period=sensor.period, prefix=prefix, start=start, end=end)


def _readings_iterated(
    sensor: DatasetSensor, prefix: list[str], start: datetime | None, end: datetime | None
) -> Iterator[bytes]:
    rows = dataset_reading_rows(period=sensor.period, start=start, end=end)
    yield from csv_blocks(
        (
            [
                *prefix,
                format_timestamp(moment),
                *(
                    format_number(number, places)
                    for number, places in zip(numbers, NUMBER_DECIMALS, strict=True)
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
    by_id = {(sensor.sensor_id, sensor.period.household_key): sensor for sensor in sensors}
    rows = (
        _sequences(sensors, start, end)
        .order_by("sensor_id", "start", "kind")
        .values_list(
            "pk",
            "sensor_id",
            "household_key",
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


def _sequence_block(
    chunk: list[tuple[Any, ...]], by_id: dict[tuple[int, int], DatasetSensor]
) -> bytes:
    devices: dict[int, list[tuple[str, str]]] = {}
    confirmed = (
        DevicePeak.objects.filter(sequence_id__in=[row[0] for row in chunk])
        .order_by("sequence_id", "device_id")
        .values_list("sequence_id", "device__name", "device__category")
    )
    for sequence_id, name, category in confirmed:
        devices.setdefault(sequence_id, []).append((name.replace("|", "/"), category))
    lines = []
    for pk, sensor_id, household_key, kind, begin, finish, average, peak, energy, base in chunk:
        sensor = by_id[(sensor_id, household_key)]
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


def dataset_households(
    *, sensors: list[DatasetSensor], start: datetime | None, end: datetime | None
) -> list[list[str]]:
    """The households file's rows (CSV cells, by pseudonym): one per household with an
    assignment period in the dataset that meets [start, end), with its arm and covariates. A
    household deleted after its readings were kept for the study (a period with a household key
    but no user) has `deleted` true and empty arm and covariates: its household row is gone."""
    users: dict[str, int | None] = {}
    for sensor in sensors:
        if sensor.clip(start, end) is not None:
            users.setdefault(sensor.household, sensor.period.user_id)
    known = {
        row[0]: row
        for row in Household.objects.filter(
            user_id__in=[user_id for user_id in users.values() if user_id is not None]
        ).values_list(
            "user_id",
            "app_version",
            "household_size",
            "property_type",
            "living_space_m2",
            "hot_water",
            "tariff",
        )
    }
    rows = []
    for name in sorted(users):
        user_id = users[name]
        found = known.get(user_id) if user_id is not None else None
        if found is None:
            rows.append([name, "", "", "", "", "", "", "", _flag(user_id is None)])
            continue
        _, arm, size, property_type, space, hot_water, tariff = found
        rows.append(
            [
                name,
                str(arm),
                Household.AppVersion(arm).name.lower(),
                "" if size is None else str(size),
                property_type,
                "" if space is None else str(space),
                hot_water,
                tariff,
                _flag(False),
            ]
        )
    return rows


def _flag(value: bool) -> str:
    return "true" if value else "false"


def header_line(columns: tuple[str, ...]) -> bytes:
    return csv_line(columns).encode()
