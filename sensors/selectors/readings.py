"""Every read of `Reading` from outside the sensors app: CSV rows, dataset rows and counts, the
detection arrays, rollup sources, day sums and power series.

Each read that serves a household takes its assignment periods (`sensors.selectors.assignments`)
and applies them here, in the SQL, next to the sensor and time range: `periods=None` means every
reading of the sensor (admin views of a sensor). The SQL is the one the exports and analytics
used before (server-built CSV lines, COPY, packed arrays), with the period condition added.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.db import connection, models, transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum, Value, Window
from django.db.models.expressions import Case, Func, When
from django.db.models.functions import Cast, RowNumber

from energyleaf.common.numbers import REGISTER, WATTS

from ..models import Reading, ReadingFlag
from .assignments import (
    NO_HOUSEHOLD,
    Period,
    periods_q,
    periods_sql,
    segments_of,
    sensors_periods,
)

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType
    from psycopg.abc import Buffer

READING_TABLE = Reading._meta.db_table
NUMBERS = ("value", "consumption", "value_out", "inserted", "value_current")
# Their decimals in exports: registers and their differences, then power in W.
NUMBER_DECIMALS = (REGISTER, REGISTER, REGISTER, REGISTER, WATTS)
CURSOR_ROWS = 5000
CHUNK_ROWS = 2000


def _scope(
    sensor_id: int | None,
    periods: Sequence[Period] | None,
    start: datetime | None,
    end: datetime | None,
) -> Q:
    condition = Q()
    if sensor_id is not None:
        condition &= Q(sensor_id=sensor_id)
    if periods is not None:
        condition &= periods_q(periods)
    if start is not None:
        condition &= Q(timestamp__gte=start)
    if end is not None:
        condition &= Q(timestamp__lt=end)
    return condition


def readings_scoped(
    *,
    sensor_id: int | None = None,
    periods: Sequence[Period] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[Reading]:
    """Readings of the sensor and/or periods in [start, end) (None: unbounded)."""
    return Reading.objects.filter(_scope(sensor_id, periods, start, end))


def _period_where(periods: Sequence[Period] | None) -> tuple[str, list[Any]]:
    if periods is None:
        return "", []
    sql, params = periods_sql(periods)
    return f" AND {sql}", params


# --- the household CSV (`csv_energy`) ----------------------------------------------------------


def flag_names_sql() -> str:
    """SQL of the `|`-joined names of a reading's flags (NULL when none is set)."""
    names = ", ".join(
        f"CASE WHEN flags & {bit} <> 0 THEN '{label}' END"
        for bit, label in ReadingFlag.LABELS.items()
    )
    return f"NULLIF(concat_ws('|', {names}), '')"


def energy_select_statement(
    *,
    sensor_id: int,
    start: datetime,
    end: datetime,
    zone_name: str | None,
    as_lines: bool,
    periods: Sequence[Period] | None = None,
) -> tuple[str, list[Any]]:
    """The PostgreSQL SELECT of the raw energy rows: one column per cell, or (`as_lines`) each row
    as one finished CSV line. No cell ever needs quoting (numbers, times, flag names), so the line
    is the cells joined by commas, NULL as empty, exactly what COPY's CSV output would be."""
    # Each number rounded to its unit's decimals (energyleaf.common.numbers), no trailing zeros.
    numbers = [
        f"trim_scale(round({name}, {places}))"
        for name, places in zip(NUMBERS, NUMBER_DECIMALS, strict=True)
    ]
    if zone_name is None:
        stamp = """to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
        params: list[Any] = []
    else:
        offset = """(EXTRACT(EPOCH FROM ("timestamp" AT TIME ZONE %s)
                     - ("timestamp" AT TIME ZONE 'UTC'))::int)"""
        stamp = f"""to_char("timestamp" AT TIME ZONE %s, 'YYYY-MM-DD"T"HH24:MI:SS.MS')
            || CASE WHEN {offset} < 0 THEN '-' ELSE '+' END
            || lpad((abs({offset}) / 3600)::text, 2, '0') || ':'
            || lpad((abs({offset}) %% 3600 / 60)::text, 2, '0')"""
        params = [zone_name, zone_name, zone_name, zone_name]
    cells = [*numbers, f"({stamp})", "flags", flag_names_sql()]
    if as_lines:
        columns = " || ',' || ".join(f"coalesce(({cell})::text, '')" for cell in cells)
        columns += " || E'\\n'"
    else:
        columns = ", ".join(cells)
    period_sql, period_params = _period_where(periods)
    select = f"""SELECT {columns}
        FROM {READING_TABLE}
        WHERE sensor_id = %s AND "timestamp" >= %s AND "timestamp" < %s{period_sql}
        ORDER BY "timestamp"
    """  # noqa: S608 - only our own identifiers are interpolated
    return select, [*params, sensor_id, start, end, *period_params]


def energy_copy_statement(
    *, sensor_id: int, start: datetime, end: datetime, zone_name: str | None
) -> tuple[str, list[Any]]:
    """`COPY (SELECT …) TO STDOUT` of the raw energy CSV rows: the same bytes as the cursor path
    (tested), and the ceiling of bench/export_stream.py."""
    select, params = energy_select_statement(
        sensor_id=sensor_id, start=start, end=end, zone_name=zone_name, as_lines=False
    )
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", params


def energy_lines_cursor(
    *,
    sensor_id: int,
    start: datetime,
    end: datetime,
    zone_name: str | None,
    periods: Sequence[Period] | None = None,
) -> Iterator[bytes]:
    """PostgreSQL: the rows as finished CSV lines from a server-side cursor, CURSOR_ROWS per
    fetch: one C-level fetch per block instead of one COPY message per row."""
    select, params = energy_select_statement(
        sensor_id=sensor_id,
        start=start,
        end=end,
        zone_name=zone_name,
        as_lines=True,
        periods=periods,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor.connection
        with raw.cursor(name=f"energy_export_{uuid.uuid4().hex}") as server:
            server.execute(select, params)
            while rows := server.fetchmany(CURSOR_ROWS):
                yield "".join([row[0] for row in rows]).encode()


def energy_rows(
    *,
    sensor_id: int,
    start: datetime,
    end: datetime,
    periods: Sequence[Period] | None = None,
    chunk_size: int = CHUNK_ROWS,
) -> Iterator[tuple[Any, ...]]:
    """(value, consumption, value_out, inserted, value_current, timestamp, flags) per reading,
    ascending, from a server-side iterator (any database)."""
    return (
        readings_scoped(sensor_id=sensor_id, periods=periods, start=start, end=end)
        .order_by("timestamp")
        .values_list(*NUMBERS, "timestamp", "flags")
        .iterator(chunk_size=chunk_size)
    )


# --- the research dataset --------------------------------------------------------------------


def readings_count(
    *, periods: Sequence[Period], start: datetime | None, end: datetime | None
) -> int:
    """How many readings lie in the periods and [start, end)."""
    if not periods:
        return 0
    return readings_scoped(periods=periods, start=start, end=end).count()


def sensor_reading_span(*, sensor_id: int) -> tuple[datetime, datetime] | None:
    """The first and the last timestamp of the sensor's stored readings, whoever's they are (the
    demo and operator tools use it); None when it has none."""
    span = Reading.objects.filter(sensor_id=sensor_id).aggregate(
        first=Min("timestamp"), last=Max("timestamp")
    )
    if span["first"] is None or span["last"] is None:
        return None
    return span["first"], span["last"]


def readings_span_stats(
    *, sensor_id: int, spans: Sequence[tuple[datetime, datetime]]
) -> list[tuple[int, datetime | None, datetime | None, Decimal]]:
    """Per closed span [first, last] of the sensor: how many readings, the first and the last
    timestamp and the sum of consumption (0 when none), whoever's they are. One query; the
    import's verification compares them with the source."""
    if not spans:
        return []
    values = ", ".join(["(%s, %s, %s)"] * len(spans))
    params: list[Any] = []
    for number, (first, last) in enumerate(spans):
        params += [number, first, last]
    table = READING_TABLE
    sql = (
        f"SELECT s.n, count(r.id), min(r.timestamp), max(r.timestamp), "  # noqa: S608 - fixed identifiers
        f"coalesce(sum(r.consumption), 0) FROM (VALUES {values}) AS s (n, first, last) "
        f"LEFT JOIN {table} r ON r.sensor_id = %s AND r.timestamp >= s.first::timestamptz "
        "AND r.timestamp <= s.last::timestamptz GROUP BY s.n ORDER BY s.n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, sensor_id])
        rows = cursor.fetchall()
    return [
        (int(count), first, last, Decimal(total)) for _number, count, first, last, total in rows
    ]


def reading_slice_cuts(
    *, period: Period, start: datetime | None, end: datetime | None, slice_rows: int
) -> list[tuple[datetime | None, datetime | None]]:
    """[from, to) ranges that each hold at most `slice_rows` of the period's readings in
    [start, end): cut at every n-th reading's timestamp, found with one index scan."""
    numbered = (
        readings_scoped(periods=[period], start=start, end=end)
        .annotate(number=Window(RowNumber(), order_by=F("timestamp").asc()))
        .annotate(position=(F("number") - 1) % slice_rows)
        .filter(position=0, number__gt=1)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
    )
    cuts: list[datetime | None] = [start, *numbered, end]
    return list(itertools.pairwise(cuts))


def dataset_reading_copy(
    *, period: Period, prefix: list[str], start: datetime | None, end: datetime | None
) -> Iterator[Buffer]:
    """PostgreSQL: `COPY … TO STDOUT` CSV records of the period's readings in [start, end):
    the `prefix` cells, the UTC time, the numbers, the flags and their names."""
    numbers = ", ".join(
        f"trim_scale(round({name}, {places}))"
        for name, places in zip(NUMBERS, NUMBER_DECIMALS, strict=True)
    )
    stamp = """to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
    period_sql, period_params = periods_sql([period])
    where = [period_sql]
    params: list[Any] = [*prefix, *period_params]
    if start is not None:
        where.append('"timestamp" >= %s')
        params.append(start)
    if end is not None:
        where.append('"timestamp" < %s')
        params.append(end)
    statement = f"""COPY (
        SELECT {", ".join(["%s"] * len(prefix))}, {stamp}, {numbers}, flags, {flag_names_sql()}
        FROM {READING_TABLE}
        WHERE {" AND ".join(where)}
        ORDER BY "timestamp"
    ) TO STDOUT WITH (FORMAT csv)"""  # noqa: S608 - only our own identifiers are interpolated
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params) as copy:
        yield from copy


def dataset_reading_rows(
    *, period: Period, start: datetime | None, end: datetime | None
) -> Iterator[tuple[Any, ...]]:
    """(timestamp, value, consumption, value_out, inserted, value_current, flags) of the period's
    readings in [start, end), ascending (any database)."""
    return (
        readings_scoped(periods=[period], start=start, end=end)
        .order_by("timestamp")
        .values_list("timestamp", *NUMBERS, "flags")
        .iterator(chunk_size=CHUNK_ROWS)
    )


# --- detection -------------------------------------------------------------------------------

# PostgreSQL: the whole series in one row as two bytea, packed by the server: each timestamp in
# its binary wire form (big-endian int64 microseconds since 2000-01-01 UTC) and each consumption
# as a big-endian float8. numpy reads them without making a Python object per reading.
_POSTGRES_ARRAYS_SQL = (
    "SELECT string_agg(timestamptz_send(t), ''::bytea), "  # noqa: S608 - only the table name
    "string_agg(float8send(COALESCE(c, 'NaN')), ''::bytea) "
    'FROM (SELECT "timestamp" AS t, consumption::float8 AS c '
    f'FROM "{READING_TABLE}" WHERE sensor_id = %s AND "timestamp" BETWEEN %s AND %s{{period}} '
    'ORDER BY "timestamp") AS series'
)
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970
# SQLite stores timestamps as UTC text ("YYYY-MM-DD HH:MM:SS[.ffffff]"), parsed by numpy.
_SQLITE_ARRAYS_SQL = (
    f'SELECT "timestamp", CAST(consumption AS REAL) FROM "{READING_TABLE}" '  # noqa: S608
    f'WHERE sensor_id = %s AND "timestamp" BETWEEN %s AND %s{{period}} ORDER BY "timestamp"'
)


def readings_arrays(
    *, sensor_id: int, start: datetime, end: datetime, period: Period | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The sensor's readings with start <= timestamp <= end (and inside `period`), ascending:
    int64 ns since the epoch (UTC) and float64 consumption (kWh since the previous reading).
    One SQL query."""
    period_sql, period_params = _period_where(None if period is None else [period])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _POSTGRES_ARRAYS_SQL.format(period=period_sql),
                [sensor_id, start, end, *period_params],
            )
            packed_times, packed_kwh = cursor.fetchone() or (None, None)
        if not packed_times or not packed_kwh:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        t_us = np.frombuffer(bytes(packed_times), dtype=">i8").astype(np.int64)
        kwh = np.frombuffer(bytes(packed_kwh), dtype=">f8").astype(np.float64)
        return (t_us + _POSTGRES_EPOCH_US) * 1000, kwh
    adapt = connection.ops.adapt_datetimefield_value
    params = [sensor_id, adapt(start), adapt(end)]
    params += [adapt(p) if isinstance(p, datetime) else p for p in period_params]
    with connection.cursor() as cursor:
        cursor.execute(_SQLITE_ARRAYS_SQL.format(period=period_sql), params)
        rows = cursor.fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    texts, consumption = zip(*rows, strict=True)
    t_ns = np.array(
        [str(text).replace(" ", "T")[:26] for text in texts], dtype="datetime64[ns]"
    ).view(np.int64)
    kwh = np.array([np.nan if value is None else value for value in consumption], dtype=np.float64)
    return t_ns, kwh


def reading_consumption_series(
    *, sensor_id: int, start: datetime, end: datetime, periods: Sequence[Period] | None = None
) -> list[tuple[datetime, Decimal]]:
    """(timestamp, consumption) of the sensor's readings with start <= timestamp <= end (and in
    `periods`), ascending."""
    return list(
        Reading.objects.filter(
            _scope(sensor_id, periods, None, None), timestamp__gte=start, timestamp__lte=end
        )
        .order_by("timestamp")
        .values_list("timestamp", "consumption")
    )


def latest_reading_of_sensor(field: str = "timestamp") -> models.Subquery:
    """A subquery for a Sensor queryset: `field` of the sensor's latest reading (index-only on
    (sensor, timestamp) for the timestamp)."""
    latest = Reading.objects.filter(sensor=models.OuterRef("pk")).order_by("-timestamp")
    return models.Subquery(latest.values(field)[:1])


def readings_received_counts(
    *, sensor_ids: Iterable[int], since: datetime, until: datetime
) -> dict[int, int]:
    """Per sensor of `sensor_ids`: how many readings were stored with `received_at` in
    [since, until), whoever's they are (the staff digest compares them with the sensor's
    refusals). One grouped query on the `received_at` index; sensors without any are absent."""
    ids = list(sensor_ids)
    if not ids:
        return {}
    rows = (
        Reading.objects.filter(sensor_id__in=ids, received_at__gte=since, received_at__lt=until)
        .values("sensor_id")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("sensor_id", "count")
    )
    return {sensor_id: int(count) for sensor_id, count in rows}


# --- the live figure and the household's sensor health ------------------------------------


def readings_sums_by_sensor(
    *, periods: Sequence[Period], start: datetime
) -> dict[int, tuple[Decimal, int]]:
    """Per sensor: the summed consumption and the number of the periods' readings stamped at or
    after `start`, in one grouped query (an index range per sensor: meant for the minutes the
    rollups do not hold yet)."""
    if not periods:
        return {}
    rows = (
        readings_scoped(periods=periods, start=start)
        .values("sensor_id")
        .annotate(total=Sum("consumption"), count=Count("id"))
        .order_by()
        .values_list("sensor_id", "total", "count")
    )
    return {sensor_id: (Decimal(total or 0), int(count)) for sensor_id, total, count in rows}


def readings_newest(
    *, sensor_id: int, since: datetime | None, count: int = 2
) -> list[tuple[datetime, Decimal, Decimal | None]]:
    """(timestamp, consumption, value_current) of the sensor's newest `count` readings stamped at
    or after `since` (the start of the caller's period with it), newest first: one backward
    step on the (sensor, timestamp) index."""
    rows = Reading.objects.filter(sensor_id=sensor_id)
    if since is not None:
        rows = rows.filter(timestamp__gte=since)
    return list(
        rows.order_by("-timestamp").values_list("timestamp", "consumption", "value_current")[:count]
    )


# --- rollups ---------------------------------------------------------------------------------


class Bucket15(Func):
    """The start of the 15-minute UTC bucket of a datetime column."""

    output_field = models.DateTimeField()

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> _AsSqlType:
        return self.as_sql(
            compiler,
            connection,
            template=(
                "date_bin('15 minutes', %(expressions)s, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
            ),
            **extra,
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> _AsSqlType:
        # SQLite stores UTC datetimes as text 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        return self.as_sql(
            compiler,
            connection,
            template=(
                "(strftime('%%Y-%%m-%%d %%H:', %(expressions)s) || "
                "printf('%%02d', (CAST(strftime('%%M', %(expressions)s) AS INTEGER) / 15) * 15)"
                " || ':00')"
            ),
            **extra,
        )


def readings_received_buckets(
    *, since: datetime | None, until: datetime
) -> tuple[datetime | None, list[tuple[int, datetime]]]:
    """The newest `received_at` of the readings received in [since, until] (None: none) and the
    distinct (sensor, 15-minute bucket) pairs of those readings."""
    received = Reading.objects.filter(received_at__lte=until)
    if since is not None:
        received = received.filter(received_at__gte=since)
    newest = received.aggregate(newest=Max("received_at"))["newest"]
    if newest is None:
        return None, []
    touched = (
        received.filter(received_at__lte=newest)
        .annotate(bucket=Bucket15("timestamp"))
        .values_list("sensor_id", "bucket")
        .distinct()
        .order_by()
    )
    return newest, list(touched)


def rollup_source_rows(
    *, ranges: Sequence[tuple[int, datetime, datetime]]
) -> Iterator[dict[str, Any]]:
    """Readings of the given (sensor, from, to) ranges summed per sensor, 15-minute bucket and
    household (`household_key`, NO_HOUSEHOLD outside every period): a bucket that straddles a
    reassignment gives one row per household, so no sum mixes two households. Keys: sensor_id,
    bucket, household_key, consumption_sum, inserted_sum, reading_count, power_sum, power_count,
    power_max, power_min, value_low, value_high."""
    condition = Q()
    owners: list[When] = []
    periods = sensors_periods(sensor_ids={sensor_id for sensor_id, _, _ in ranges})
    for sensor_id, first, to in ranges:
        condition |= Q(sensor_id=sensor_id, timestamp__gte=first, timestamp__lt=to)
        segments = segments_of(periods.get(sensor_id, []), sensor_id=sensor_id, start=first, end=to)
        owners.extend(
            When(
                sensor_id=sensor_id,
                timestamp__gte=segment.start,
                timestamp__lt=segment.end,
                then=Value(segment.household_key),
            )
            for segment in segments
            if segment.household_key != NO_HOUSEHOLD
        )
    household: Any = (
        Case(*owners, default=Value(NO_HOUSEHOLD), output_field=models.BigIntegerField())
        if owners
        else Value(NO_HOUSEHOLD, output_field=models.BigIntegerField())
    )
    float_field: models.FloatField[float, float] = models.FloatField()
    return iter(
        Reading.objects.filter(condition)
        .annotate(bucket=Bucket15("timestamp"), household_key=household)
        .values("sensor_id", "bucket", "household_key")
        .annotate(
            consumption_sum=Sum("consumption"),
            inserted_sum=Sum("inserted"),
            reading_count=Count("id"),
            power_sum=Sum(Cast("value_current", float_field)),
            power_count=Count("value_current"),
            power_max=Max(Cast("value_current", float_field)),
            power_min=Min(Cast("value_current", float_field)),
            value_low=Min("value"),
            value_high=Max("value"),
        )
        .order_by()
    )


# --- reports ---------------------------------------------------------------------------------


def reading_day_sums(
    *, periods: Sequence[Period], bounds: list[datetime], time_zone: str, first_day: date
) -> tuple[list[Decimal], int]:
    """Summed consumption of the periods' readings per local day [bounds[i], bounds[i+1]) and
    the number of readings, in one query (grouped by local date on PostgreSQL)."""
    days = len(bounds) - 1
    if not periods:
        return [Decimal(0)] * days, 0
    if connection.vendor == "postgresql":
        period_sql, period_params = periods_sql(periods)
        sql = (
            'SELECT ("timestamp" AT TIME ZONE %s)::date, SUM(consumption), COUNT(*) '  # noqa: S608
            f"FROM {READING_TABLE} "
            f'WHERE "timestamp" >= %s AND "timestamp" < %s AND {period_sql} GROUP BY 1'
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [time_zone, bounds[0], bounds[-1], *period_params])
            rows = cursor.fetchall()
        by_day = {day: Decimal(total) for day, total, _ in rows}
        sums = [by_day.get(first_day + timedelta(days=i), Decimal(0)) for i in range(days)]
        return sums, sum(int(count) for _, _, count in rows)
    aggregates: dict[str, Any] = {
        f"day_{i}": Sum(
            "consumption", filter=Q(timestamp__gte=bounds[i], timestamp__lt=bounds[i + 1])
        )
        for i in range(days)
    }
    row = readings_scoped(periods=periods, start=bounds[0], end=bounds[-1]).aggregate(
        readings=Count("pk"), **aggregates
    )
    return [Decimal(row[f"day_{i}"] or 0) for i in range(days)], int(row["readings"] or 0)


def readings_received_since(
    *, before: datetime, received_since: datetime
) -> list[tuple[int, datetime]]:
    """(sensor id, timestamp) of the readings stamped before `before` that arrived at or after
    `received_since` (late readings, for the retention of raw readings)."""
    return list(
        Reading.objects.filter(timestamp__lt=before, received_at__gte=received_since)
        .values_list("sensor_id", "timestamp")
        .order_by()
    )


# PostgreSQL: many sensors' series in one query, one row per sensor, each series read in index
# order and aggregated into two arrays sent in their binary wire form (`array_send`) and fetched
# with binary results: numpy reads them without making a Python object per reading.
_POSTGRES_MANY_ARRAYS_SQL = (
    "SELECT s.id, a.t, a.c FROM unnest(%s::int8[], %s::timestamptz[]) AS s (id, since) "  # noqa: S608 - only the table name
    "CROSS JOIN LATERAL (SELECT array_send(array_agg(x.t)) AS t, "
    "array_send(array_agg(x.c)) AS c FROM ("
    "SELECT r.\"timestamp\" AS t, COALESCE(r.consumption::float8, 'NaN'::float8) AS c "
    f'FROM "{READING_TABLE}" r WHERE r.sensor_id = s.id AND r."timestamp" >= s.since '
    'AND r."timestamp" <= %s ORDER BY r."timestamp") AS x) AS a'
)
# A one-dimensional array without NULLs in binary form: 20 bytes of header (dimensions, NULL
# flag, element type, length, lower bound), then per element its length (4) and its 8 bytes.
_ARRAY_HEADER = 20
_TIMES = np.dtype([("size", ">i4"), ("value", ">i8")])
_FLOATS = np.dtype([("size", ">i4"), ("value", ">f8")])


def _binary_array(data: Buffer | None, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """The values of a binary one-dimensional array of 8-byte elements without NULLs."""
    if not data:
        return np.zeros(0, dtype=dtype["value"].newbyteorder("="))
    elements = np.frombuffer(data, dtype=dtype, offset=_ARRAY_HEADER)
    if elements.size and not np.all(elements["size"] == 8):
        raise ValueError("unexpected binary array element")
    return elements["value"].astype(dtype["value"].newbyteorder("="))


def readings_arrays_many(
    *, since: dict[int, datetime], end: datetime
) -> dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """Per sensor of `since`: its readings with since[sensor] <= timestamp <= end, whoever's they
    are (callers cut them by the assignment periods), ascending, as `readings_arrays` gives them.
    On PostgreSQL one query for all of them (binary arrays, no Python object per reading);
    elsewhere one query per sensor. Sensors without readings get empty arrays."""
    result: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    if not since:
        return result
    if connection.vendor != "postgresql":
        for sensor_id, start in since.items():
            result[sensor_id] = readings_arrays(sensor_id=sensor_id, start=start, end=end)
        return result
    import psycopg

    ids = sorted(since)
    connection.ensure_connection()
    # Binary results need a server-side-binding cursor (Django's are client-side).
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_POSTGRES_MANY_ARRAYS_SQL, [ids, [since[i] for i in ids], end], binary=True)
        rows = cursor.fetchall()
    for sensor_id, times, consumption in rows:
        t_us = _binary_array(times, _TIMES)
        result[int(sensor_id)] = (
            (t_us + _POSTGRES_EPOCH_US) * 1000,
            _binary_array(consumption, _FLOATS),
        )
    return result


def readings_received_late(*, checks: dict[int, tuple[datetime, datetime, datetime]]) -> set[int]:
    """Sensors of `checks` (sensor id -> (received_since, start, end)) that have a reading with
    start <= timestamp < end received at or after received_since: what a copy of those readings
    made before then lacks. One query over the readings received since the earliest
    received_since (the `received_at` index), whoever's they are."""
    if not checks:
        return set()
    rows = (
        Reading.objects.filter(
            sensor_id__in=list(checks),
            received_at__gte=min(since for since, _, _ in checks.values()),
            timestamp__gte=min(start for _, start, _ in checks.values()),
            timestamp__lt=max(end for _, _, end in checks.values()),
        )
        .order_by()
        .values_list("sensor_id", "timestamp", "received_at")
    )
    late: set[int] = set()
    for sensor_id, timestamp, received_at in rows.iterator(chunk_size=CHUNK_ROWS):
        since, start, end = checks[sensor_id]
        if received_at >= since and start <= timestamp < end:
            late.add(sensor_id)
    return late
