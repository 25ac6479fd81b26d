"""Batch ingestion as columns: the common batch without a Python object per reading.

`sensor_batch_ingest` takes a batch as numpy columns (`ReadingBatch`). When every reading has a
timestamp in range and the batch is a plain continuation of the sensor's stored readings
(`sensors.compute.planning.plan_columns`: times increasing and after the newest stored reading,
registers rising plausibly, power and feed-in within their limits, a register sensor of an
active household), it is planned vectorised and written with one binary COPY
(`sensors.compute.copy_binary`) in one transaction under the sensor's lock, exactly as the
general path would store it. A batch re-sent as it was stored (every reading at the time of a
stored one, with the same value) is answered 200 `Duplicate` for each reading after one query.
Anything else goes, unchanged, through `sensor_readings_ingest` (the general path: late,
refused or partly re-sent readings, meter replacements, analog sensors, deactivated
households), which answers and stores the same as for a batch of objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from sensors.compute import copy_binary, planning

from ..models import Reading
from .ingestion import (
    COPY_THRESHOLD,
    EPOCH,
    IngestResult,
    ReadingInput,
    _config,
    _datetime,
    _decimal,
    _insert_readings,
    integer_timestamps_us,
    sensor_readings_ingest,
    stored_reading,
)
from .tokens import sensor_token_authenticate

_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Readings of one sensor as columns, in request order (the protobuf batch decoded by
    `sensors.protobuf.mapping.decode_batch_columns`). `value_current` and `value_out` are
    float64 with any number where `has_current`/`has_out` is False; `timestamp` is uint64 as
    sent (s, ms, µs or ns since the epoch; 0 for "now")."""

    value: np.ndarray
    value_current: np.ndarray
    has_current: np.ndarray
    value_out: np.ndarray
    has_out: np.ndarray
    timestamp: np.ndarray
    wire_format: str = "batch_protobuf"

    def __len__(self) -> int:
        return len(self.value)

    @classmethod
    def of_inputs(cls, readings: Sequence[ReadingInput], wire_format: str) -> ReadingBatch | None:
        """Readings as columns; None when a timestamp is a text (the general path reads it)."""
        if any(isinstance(r.timestamp, str) for r in readings):
            return None
        count = len(readings)
        return cls(
            value=np.fromiter((r.value for r in readings), dtype=np.float64, count=count),
            value_current=np.fromiter(
                (r.value_current or 0.0 for r in readings), dtype=np.float64, count=count
            ),
            has_current=np.fromiter(
                (r.value_current is not None for r in readings), dtype=bool, count=count
            ),
            value_out=np.fromiter(
                (r.value_out or 0.0 for r in readings), dtype=np.float64, count=count
            ),
            has_out=np.fromiter(
                (r.value_out is not None for r in readings), dtype=bool, count=count
            ),
            timestamp=np.fromiter(
                (r.timestamp or 0 for r in readings), dtype=np.uint64, count=count
            ),
            wire_format=wire_format,
        )

    def inputs(self) -> list[ReadingInput]:
        """The readings as objects, for the general path."""
        return [
            ReadingInput(
                value=value,
                value_current=current if has_current else None,
                value_out=out if has_out else None,
                timestamp=stamp or None,
                wire_format=self.wire_format,
            )
            for value, current, has_current, out, has_out, stamp in zip(
                self.value.tolist(),
                self.value_current.tolist(),
                self.has_current.tolist(),
                self.value_out.tolist(),
                self.has_out.tolist(),
                self.timestamp.tolist(),
                strict=True,
            )
        ]


@dataclass(frozen=True, slots=True)
class BatchIngestResult:
    """The answer to a batch: every reading's result is `default` (status, message) except
    `exceptions` (index -> (status, message)). `vectorised` tells which path planned it."""

    sensor_id: int
    count: int
    accepted: int
    duplicates: int
    rejected: int
    exceptions: dict[int, tuple[int, str | None]]
    vectorised: bool
    default: tuple[int, str | None] = (200, None)

    def outcome(self, index: int) -> tuple[int, str | None]:
        return self.exceptions.get(index, self.default)

    @classmethod
    def of(cls, result: IngestResult) -> BatchIngestResult:
        return cls(
            sensor_id=result.sensor_id,
            count=len(result.outcomes),
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=result.rejected,
            exceptions={
                o.index: (o.status, o.message)
                for o in result.outcomes
                if o.status != 200 or o.message is not None
            },
            vectorised=False,
        )


def sensor_batch_ingest(
    *, token: str, batch: ReadingBatch, now: datetime | None = None
) -> BatchIngestResult:
    """Authenticate `token` and store `batch`; the same answers, stored rows and errors as
    `sensor_readings_ingest(token=token, readings=batch.inputs())`, vectorised where the
    batch allows (module docstring)."""
    now = now or timezone.now()
    times = _batch_times(batch.timestamp, now)
    if times is not None:
        columns = planning.ReadingColumns(
            times_us=times,
            value=batch.value,
            value_current=batch.value_current,
            has_current=batch.has_current,
            value_out=batch.value_out,
            has_out=batch.has_out,
            server_time=np.zeros(len(times), dtype=bool),
        )
        result = _ingest_vectorised(token, columns, now)
        if result is not None:
            return result
    return BatchIngestResult.of(
        sensor_readings_ingest(token=token, readings=batch.inputs(), now=now)
    )


def _batch_times(raw: np.ndarray, now: datetime) -> np.ndarray | None:
    """The timestamps in µs since the epoch, or None unless every one is given and in range."""
    if not len(raw) or bool((raw == 0).any()) or bool((raw >= 2**63).any()):
        return None
    micros, valid = integer_timestamps_us(raw.astype(np.int64), now)
    return micros if bool(valid.all()) else None


def _ingest_vectorised(
    token: str, columns: planning.ReadingColumns, now: datetime
) -> BatchIngestResult | None:
    """Plan and store a batch that continues the stored readings, or answer a batch that was
    stored before exactly as sent; None (nothing stored) for anything else."""
    with transaction.atomic():
        # Token errors propagate as from the general path (the token is checked first there too).
        sensor = sensor_token_authenticate(
            token=token, now=now, lock=True, allow_inactive_household=True
        )
        if not sensor.household_active or sensor.analog_rotations_per_kwh is not None:
            return None
        newest = _newest_stored(sensor.pk)
        plan = planning.plan_columns(newest, columns, _config(sensor))
        if plan is None:
            if newest is None or not _stored_before(sensor.pk, columns):
                return None
            count = len(columns.times_us)
            return BatchIngestResult(
                sensor_id=sensor.pk,
                count=count,
                accepted=0,
                duplicates=count,
                rejected=0,
                exceptions={},
                vectorised=True,
                default=(200, planning.DUPLICATE_MESSAGE),
            )
        _insert_plan(sensor.pk, plan, now)
    count = len(plan)
    return BatchIngestResult(
        sensor_id=sensor.pk,
        count=count,
        accepted=count,
        duplicates=0,
        rejected=0,
        exceptions={},
        vectorised=True,
    )


def _stored_before(sensor_id: int, columns: planning.ReadingColumns) -> bool:
    """Whether every reading is already stored at its time with its value (rounded to storage
    precision), the times increasing: a re-sent batch. The general path then answers each one
    200 `Duplicate` and changes nothing."""
    times = columns.times_us
    if len(times) > 1 and not bool((np.diff(times) > 0).all()):
        return False
    micros = planning.micros_of(columns.value)
    if micros is None:
        return False
    table = Reading._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    first = EPOCH + timedelta(microseconds=int(times[0]))
    last = EPOCH + timedelta(microseconds=int(times[-1]))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT timestamp, value FROM {table} WHERE sensor_id = %s "  # noqa: S608 - fixed identifiers
            "AND timestamp >= %s AND timestamp <= %s ORDER BY timestamp",
            [sensor_id, adapt(first), adapt(last)],
        )
        rows = cursor.fetchall()
    if len(rows) != len(times):
        return False
    stored_times = np.fromiter(
        ((_datetime(moment) - EPOCH) // _ONE_US for moment, _ in rows), dtype=np.int64
    )
    if not np.array_equal(stored_times, times):
        return False
    stored_values = [planning.micro_of(_decimal(value) or Decimal(0)) for _, value in rows]
    if any(value is None for value in stored_values):
        return False
    return np.array_equal(np.array(stored_values, dtype=np.int64), micros)


_COLUMNS = "id, timestamp, value, consumption, value_out, inserted, value_current, flags"


def _newest_stored(sensor_id: int) -> planning.StoredReading | None:
    table = Reading._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {table} WHERE sensor_id = %s "  # noqa: S608 - fixed identifiers
            "ORDER BY timestamp DESC LIMIT 1",
            [sensor_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return stored_reading(row)


# The column types `copy_binary` writes, as Django declares them for PostgreSQL.
_BINARY_TYPES = {
    "sensor": "bigint",
    "timestamp": "timestamp with time zone",
    "value": "numeric(30, 6)",
    "consumption": "numeric(30, 6)",
    "value_out": "numeric(30, 6)",
    "inserted": "numeric(30, 6)",
    "value_current": "numeric(30, 6)",
    "flags": "smallint",
    "received_at": "timestamp with time zone",
}


def binary_copy_matches_model() -> bool:
    """Whether the readings table's column types are those `copy_binary` writes."""
    fields = {f.name: f for f in Reading._meta.concrete_fields}
    for name, expected in _BINARY_TYPES.items():
        field = fields[name]
        target = getattr(field, "target_field", None)
        declared = (target.rel_db_type(connection) if target else field.db_type(connection)) or ""
        if declared.split(" CHECK")[0].strip() != expected:
            return False
    return tuple(fields[name].column for name in _BINARY_TYPES) == copy_binary.READING_COLUMNS


def _insert_plan(sensor_id: int, plan: planning.ColumnPlan, now: datetime) -> None:
    """One binary COPY on PostgreSQL (large batches), else the general path's writer."""
    if (
        connection.vendor == "postgresql"
        and len(plan) > COPY_THRESHOLD
        and binary_copy_matches_model()
    ):
        received_us = (now - EPOCH) // _ONE_US
        body = copy_binary.reading_rows(sensor_id, plan, received_us)
        table = Reading._meta.db_table
        columns = ", ".join(copy_binary.READING_COLUMNS)
        with connection.cursor() as cursor:
            raw_cursor = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw_cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(body)
        return
    _insert_readings(sensor_id, plan.rows(), now)
