"""The fast path of a live single reading (`/api/v1/sensor_input`, `/api/v2/energy|gas|water`).

A sensor posting its reading every 15 s is almost always the plain case: a valid, used token of
an active household's sensor, a reading later than every stored one and plausible after it.
On PostgreSQL such a reading costs two statements in autocommit, no explicit transaction:

1. `_context`: ONE unlocked SELECT (the database function `sensors_reading_context`) resolves
   the token to its sensor (with what the planner needs: type, increments, household active)
   and loads the stored readings just before and at-or-after
   the reading's time (the neighbours `sensors.services.ingestion` would load).
2. `sensors.compute.planning.plan_ingestion` plans the reading against them, as on the locked path
   (no rule is repeated anywhere else).
3. `_insert`: when the plan is one plain insert, ONE call of the database function
   `sensors_reading_insert_live` (migrations 0010 and 0011) takes the sensor's ingestion lock,
   re-checks in a fresh snapshot that the token, the sensor and both neighbours are still what
   step 1 saw, inserts, and records the token's first use when it is one; it returns false when
   anything changed in between.

Everything else goes through `sensors.services.ingestion.sensor_readings_ingest`, the locked path,
which re-reads and re-plans under the lock: token problems, an inactive household, a type
mismatch, duplicates, refusals, late readings that change a later reading, meter replacements,
a failed re-check, SQLite. Answers are the same whichever path a reading takes, and a reading
answered stored is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.utils import timezone

from sensors.compute import planning

from .ingestion import (
    IngestResult,
    ItemOutcome,
    ReadingInput,
    _config,
    sensor_readings_ingest,
    timestamp_from_client,
)
from .tokens import SENSOR_LOCK_NAMESPACE, AuthenticatedSensor, token_hash

# The database functions of migration 0010 (PostgreSQL only).
CONTEXT_FUNCTION = "sensors_reading_context"
INSERT_FUNCTION = "sensors_reading_insert_live"
_CONTEXT_SQL = "SELECT * FROM sensors_reading_context(%s::text, %s::timestamptz)"
_INSERT_SQL = (
    "SELECT sensors_reading_insert_live(%s::integer, %s::bigint, %s::bigint, %s::bigint, "
    "%s::text, %s::integer, %s::timestamptz, %s::bigint, %s::numeric, %s::numeric, "
    "%s::numeric, %s::bigint, %s::numeric, %s::timestamptz, %s::numeric, %s::numeric, "
    "%s::numeric, %s::numeric, %s::numeric, %s::integer)"
)
_STORED_OUTCOME = planning.Outcome(200)


def _bound_cursor() -> CursorWrapper:
    """A Django cursor over psycopg's server-side binding cursor (PostgreSQL only).

    Django's psycopg cursors bind on the client: each statement goes out as text with its values
    quoted in, and PostgreSQL parses and plans it again. The two statements of every live
    reading are always the same, so with server-side binding psycopg prepares each once per
    pooled connection (after its fifth use there) and then sends only the values. Measured on
    the context query: 86 against 144 microseconds a round trip, of which this process spends
    34 against 47. Only these two statements use it; the rest of the project keeps Django's default.
    It is still Django's cursor wrapper, so errors, query logging and the test client's query
    counting are as for any other query.
    """
    connection.close_if_health_check_failed()  # as connection.cursor() does
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(raw, connection)


class _NotPlainError(Exception):
    """The plan needs more than the fast path does (raised to stop planning early)."""


def _no_pending(_after: datetime) -> list[planning.PendingRejection]:
    # Only a refusal consults earlier refusals, and a refusal is never a plain insert.
    raise _NotPlainError


def _neighbour(row: tuple[Any, ...], start: int) -> planning.StoredReading | None:
    pk = row[start]
    if pk is None:
        return None
    return planning.StoredReading(
        pk=pk,
        timestamp=row[start + 1],
        value=row[start + 2],
        consumption=row[start + 3],
        value_out=row[start + 4],
        inserted=row[start + 5],
        value_current=row[start + 6],
        flags=row[start + 7],
    )


class _Context:
    """What step 1 saw: the token's sensor and the reading's stored neighbours."""

    __slots__ = ("after", "before", "sensor", "token_id")

    def __init__(
        self,
        token_id: int,
        sensor: AuthenticatedSensor,
        before: planning.StoredReading | None,
        after: planning.StoredReading | None,
    ) -> None:
        self.token_id = token_id
        self.sensor = sensor
        self.before = before
        self.after = after


def _context(
    token: str, moment: datetime, now: datetime, sensor_type: str | None
) -> _Context | None:
    """Step 1: the token's sensor and the neighbours of `moment`, or None when the token or the
    sensor needs the locked path (unknown, expired, reset, inactive household, type mismatch)
    or a reading is stored at `moment` already (a duplicate). A token's first use stays here:
    the insert records it (migration 0011)."""
    if not token or len(token) > 64:
        return None
    with _bound_cursor() as cursor:
        cursor.execute(_CONTEXT_SQL, (token_hash(token), moment))
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, expires_at, issued_for, _, sensor_id, user_id, kind, rotations, active = row[:9]
    if (
        expires_at <= now
        or user_id is None
        or user_id != issued_for
        or not active
        or (sensor_type is not None and kind != sensor_type)
    ):
        return None
    after = _neighbour(row, 17)
    if after is not None and after.timestamp == moment:
        return None
    sensor = AuthenticatedSensor(
        pk=sensor_id, user_id=user_id, sensor_type=kind, analog_rotations_per_kwh=rotations
    )
    return _Context(token_id, sensor, _neighbour(row, 9), after)


def _plan(
    context: _Context, reading: ReadingInput, moment: datetime, server_time: bool
) -> planning.StoredReading | None:
    """Step 2: the row to insert when the planner's answer is one plain insert, else None."""
    stored = [row for row in (context.before, context.after) if row is not None]
    incoming = planning.IncomingReading(
        0, moment, reading.value, reading.value_current, reading.value_out, server_time
    )
    try:
        plan = planning.plan_ingestion(
            stored=stored,
            incoming=[incoming],
            increments=context.sensor.analog_rotations_per_kwh is not None,
            config=_config(context.sensor),
            load_pending=_no_pending,
        )
    except _NotPlainError:
        return None
    if (
        len(plan.inserts) != 1
        or plan.updates
        or plan.rejections
        or plan.meter_replacements
        or plan.resolved_pending
        or plan.outcomes.get(0) != _STORED_OUTCOME
    ):
        return None
    return plan.inserts[0]


def _insert(context: _Context, row: planning.StoredReading, now: datetime) -> bool:
    """Step 3: insert `row` when nothing changed since step 1 (one statement); whether it did."""
    before, after, sensor = context.before, context.after, context.sensor
    params = (
        SENSOR_LOCK_NAMESPACE,
        context.token_id,
        sensor.pk,
        sensor.user_id,
        sensor.sensor_type,
        sensor.analog_rotations_per_kwh,
        now,
        before.pk if before else None,
        before.value if before else None,
        before.value_out if before else None,
        before.value_current if before else None,
        after.pk if after else None,
        after.value if after else None,
        row.timestamp,
        row.value,
        row.consumption,
        row.value_out,
        row.inserted,
        row.value_current,
        row.flags,
    )
    with _bound_cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        inserted = cursor.fetchone()
    return bool(inserted and inserted[0])


def sensor_reading_ingest(
    *,
    token: str,
    reading: ReadingInput,
    sensor_type: str | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """`sensor_readings_ingest(token=token, readings=[reading], ...)` with the same outcome,
    answers and errors, in two statements when the reading is a plain insert (module docstring).
    """
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        moment, server_time = timestamp_from_client(reading.timestamp, now=now)
        if moment is not None:
            context = _context(token, moment, now, sensor_type)
            if context is not None:
                row = _plan(context, reading, moment, server_time)
                if row is not None and _insert(context, row, now):
                    return IngestResult(
                        sensor_id=context.sensor.pk,
                        outcomes=(ItemOutcome(0, 200, None),),
                        accepted=1,
                        duplicates=0,
                        rejected=0,
                    )
    return sensor_readings_ingest(token=token, readings=[reading], sensor_type=sensor_type, now=now)
