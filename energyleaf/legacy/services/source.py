"""The reads of the old platform's database: one read-only psycopg connection in UTC, and one
function per question. Every query of the source is here; nothing is ever written to it.

The tables are the old schema of its migrations 0000-0008 (`tests/oldschema.sql` rebuilds them;
what each becomes: docs/operations.md, "Import from the old platform"). The readings table may
be a TimescaleDB hypertable; it reads the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

Row = dict[str, Any]


@contextmanager
def source_connect(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A read-only connection to the old database whose session time zone is UTC (timestamps
    in COPY text then carry `+00`), in one repeatable-read transaction: every statement of the
    connection sees the same snapshot (the copy jobs' own connections each have theirs, which is
    why the old platform is frozen first)."""
    with psycopg.connect(url, autocommit=False) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn
        conn.rollback()


def _rows(
    conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | dict[str, Any] = ()
) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)  # type: ignore[arg-type]
        return list(cursor.fetchall())


def users(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, 'SELECT * FROM "user" ORDER BY created NULLS FIRST, id')


def households(conn: psycopg.Connection[Any]) -> dict[str, Row]:
    """The newest `user_data` row of each user."""
    rows = _rows(
        conn,
        'SELECT DISTINCT ON (user_id) * FROM user_data ORDER BY user_id, "timestamp" DESC, id DESC',
    )
    return {row["user_id"]: row for row in rows}


def experiments(conn: psycopg.Connection[Any]) -> dict[str, Row]:
    return {row["user_id"]: row for row in _rows(conn, "SELECT * FROM user_experiment_data")}


def sensors(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, "SELECT * FROM sensor ORDER BY client_id")


def sensor_history(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, "SELECT * FROM sensor_history ORDER BY client_id, sensor_id")


@dataclass(frozen=True, slots=True)
class IdStats:
    """The readings of one old `sensor_id`: all of them (`first`, `last`) and those from the
    `since` of the run on (`count`, `since_first`, `since_last`, `consumption`)."""

    sensor_id: str
    first: datetime | None
    last: datetime | None
    count: int
    since_first: datetime | None
    since_last: datetime | None
    consumption: Decimal


def reading_stats(conn: psycopg.Connection[Any], since: datetime | None) -> dict[str, IdStats]:
    """Per old `sensor_id`: span of all readings, and count, span and consumption sum of those
    at or after `since` (all when None). One scan of the readings."""
    rows = _rows(
        conn,
        """
        SELECT sensor_id, min("timestamp") AS first, max("timestamp") AS last,
               count(*) FILTER (WHERE "timestamp" >= %(since)s) AS count,
               min("timestamp") FILTER (WHERE "timestamp" >= %(since)s) AS since_first,
               max("timestamp") FILTER (WHERE "timestamp" >= %(since)s) AS since_last,
               coalesce(sum(consumption) FILTER (WHERE "timestamp" >= %(since)s), 0) AS total
        FROM sensor_data GROUP BY sensor_id
        """,
        {"since": since if since is not None else "-infinity"},
    )
    return {
        row["sensor_id"]: IdStats(
            row["sensor_id"],
            row["first"],
            row["last"],
            int(row["count"]),
            row["since_first"],
            row["since_last"],
            Decimal(row["total"]),
        )
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class Plausibility:
    """Today's limits the flags of copied readings are computed with (register units and W)."""

    max_rate_per_minute: Decimal
    max_out_rate_per_minute: Decimal
    min_power_w: Decimal
    max_power_w: Decimal


def readings_copy_statement(
    *,
    sensor_ids: Sequence[str],
    target_sensor_id: int,
    after: datetime | None,
    since: datetime | None,
    limit: int,
    received_at: datetime,
    limits: Plausibility,
    flags: tuple[int, int, int],
) -> sql.Composed:
    """`COPY (…) TO STDOUT` of the next `limit` readings of the old ids (one sensor), oldest
    first, after `after` (else from `since`, else all), as COPY text in the column order of
    `sensors.services.imported.IMPORT_COLUMNS`: the target sensor's id, the old values
    unchanged, the flags of today's rules (`flags` = the bits for register, power and feed-in),
    and `received_at`. Each reading is judged against the one before it in time, which the
    window also sees for the first reading of a chunk."""
    value_bit, power_bit, out_bit = flags
    columns = sql.SQL(
        'SELECT "timestamp", value, consumption, value_out, inserted, value_current '
        'FROM sensor_data WHERE sensor_id = {} AND "timestamp" >= {}'
    )
    lower = after if after is not None else since
    lower_literal = sql.Literal(lower if lower is not None else "-infinity")
    parts = [columns.format(sql.Literal(sensor_id), lower_literal) for sensor_id in sensor_ids]
    union = sql.SQL(" UNION ALL ").join(parts)
    condition = (
        sql.SQL('"timestamp" > {}').format(sql.Literal(after))
        if after is not None
        else sql.SQL("true")
    )
    minutes = sql.SQL('(extract(epoch FROM ("timestamp" - pt)) / 60)')
    return sql.SQL(
        """COPY (
        SELECT {target}, "timestamp", value, consumption, value_out, inserted, value_current,
          (CASE WHEN value <= 0 OR (pv IS NOT NULL AND (value < pv
                OR value - pv > {rate} * {minutes})) THEN {value_bit} ELSE 0 END)
          + (CASE WHEN value_current < {min_power} OR value_current > {max_power}
                THEN {power_bit} ELSE 0 END)
          + (CASE WHEN value_out < 0 OR (pvo IS NOT NULL AND (value_out < pvo
                OR value_out - pvo > {out_rate} * {minutes})) THEN {out_bit} ELSE 0 END),
          {received}
        FROM (
          SELECT *, lag(value) OVER w AS pv, lag("timestamp") OVER w AS pt,
                 lag(value_out) OVER w AS pvo
          FROM ({union}) AS o WINDOW w AS (ORDER BY "timestamp")
        ) AS r
        WHERE {condition} ORDER BY "timestamp" LIMIT {limit}
        ) TO STDOUT"""
    ).format(
        target=sql.Literal(target_sensor_id),
        rate=sql.Literal(limits.max_rate_per_minute),
        out_rate=sql.Literal(limits.max_out_rate_per_minute),
        min_power=sql.Literal(limits.min_power_w),
        max_power=sql.Literal(limits.max_power_w),
        minutes=minutes,
        value_bit=sql.Literal(value_bit),
        power_bit=sql.Literal(power_bit),
        out_bit=sql.Literal(out_bit),
        received=sql.Literal(received_at.isoformat()),
        union=union,
        condition=condition,
        limit=sql.Literal(limit),
    )


def plain_copy_statement(*, sensor_ids: Sequence[str]) -> sql.Composed:
    """`COPY (…) TO STDOUT` of the old ids' readings without any processing (the benchmark's
    yardstick)."""
    return sql.SQL(
        'COPY (SELECT sensor_id, "timestamp", value, consumption, value_out, inserted, '
        "value_current FROM sensor_data WHERE sensor_id = ANY({})) TO STDOUT"
    ).format(sql.Literal(list(sensor_ids)))


def sequences(conn: psycopg.Connection[Any]) -> list[Row]:
    """Peaks and anomalies with the energy of their readings (kWh, sum of consumption in
    (start, end])."""
    return _rows(
        conn,
        """
        SELECT s.*, coalesce(e.energy, 0) AS energy
        FROM sensor_data_sequence s
        LEFT JOIN LATERAL (
            SELECT sum(d.consumption) AS energy FROM sensor_data d
            WHERE d.sensor_id = s.sensor_id AND d."timestamp" > s.start
              AND d."timestamp" <= s."end"
        ) e ON true
        ORDER BY s.sensor_id, s.start, s.id
        """,
    )


def devices(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, "SELECT * FROM device ORDER BY id")


def device_peaks(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, "SELECT * FROM device_to_peak ORDER BY device_id, sensor_data_sequence_id")


def suggestions(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, "SELECT * FROM device_suggestions_peak ORDER BY id")


def report_configs(conn: psycopg.Connection[Any]) -> list[Row]:
    """The newest `report_config` of each user."""
    return _rows(
        conn,
        "SELECT DISTINCT ON (user_id) * FROM report_config "
        "ORDER BY user_id, created_timestamp DESC, id DESC",
    )


def reports(conn: psycopg.Connection[Any]) -> list[Row]:
    return _rows(conn, 'SELECT * FROM report_data ORDER BY user_id, date_from, "timestamp", id')


def report_days(conn: psycopg.Connection[Any]) -> dict[str, list[Row]]:
    days: dict[str, list[Row]] = {}
    for row in _rows(conn, "SELECT * FROM reports_day_statistics ORDER BY report_id, date, id"):
        days.setdefault(row["report_id"], []).append(row)
    return days


def counts_per_user(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    """(devices, reports) per old user id, for the verification."""
    rows = _rows(
        conn,
        """
        SELECT u.id, (SELECT count(*) FROM device d WHERE d.user_id = u.id) AS devices,
               (SELECT count(*) FROM report_data r WHERE r.user_id = u.id) AS reports
        FROM "user" u
        """,
    )
    return {row["id"]: (int(row["devices"]), int(row["reports"])) for row in rows}
