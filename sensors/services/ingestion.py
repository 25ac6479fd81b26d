"""Reading ingestion: one reading or a batch, idempotent, nothing dropped silently.

The request's token is resolved and the sensor row locked inside one transaction, so the
readings of one sensor are ingested one request at a time; the stored readings around the new
ones are loaded in one query, `sensors.compute.planning.plan_ingestion` decides, and the plan is
written in the same transaction. Ingestion never talks to Celery: a broker outage cannot lose a
reading. When the database fails the exception propagates and the client gets a 5xx, never a 2xx.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from energyleaf.audit.services import audit_event_record
from sensors.compute import planning
from sensors.compute.copy_binary import READING_COLUMNS

from ..models import MeterEvent, Reading, RejectedReading, Sensor
from .tokens import (
    AuthenticatedSensor,
    HouseholdInactiveError,
    SensorProtocolError,
    sensor_token_authenticate,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_READING = datetime(2000, 1, 1, tzinfo=UTC)

# Register units per minute of reading time: 0.6 kWh/min is the reference's rule (36 kW
# sustained); a household gas meter (G4/G6) passes at most 10 m³/h, a water meter 5 m³/h.
MAX_RATE_PER_MINUTE: dict[str, Decimal] = {
    Sensor.SensorType.ELECTRICITY: Decimal("0.6"),
    Sensor.SensorType.GAS: Decimal("0.2"),
    Sensor.SensorType.WATER: Decimal("0.1"),
}


class SensorTypeMismatchError(SensorProtocolError):
    message = "Sensor type mismatch"


# ReadingInput and ItemOutcome are built once per reading of a batch: not frozen (a frozen
# dataclass's __init__ costs several times as much), but never changed after creation.
@dataclass(slots=True, unsafe_hash=True)
class ReadingInput:
    """A reading as the client sent it.

    `value` is the register (kWh, or m³ for gas and water; for increment sensors the consumption
    since the previous message); `value_current` W; `value_out` the feed-in register.
    `timestamp` is an integer in s, ms, µs or ns since the epoch (unit recognised by magnitude),
    an ISO 8601 text with offset, or None for "now".
    """

    value: float
    value_current: float | None = None
    value_out: float | None = None
    timestamp: int | str | None = None
    wire_format: str = ""


@dataclass(slots=True, unsafe_hash=True)
class ItemOutcome:
    index: int
    status: int
    message: str | None


@dataclass(frozen=True, slots=True)
class IngestResult:
    sensor_id: int
    outcomes: tuple[ItemOutcome, ...]
    accepted: int
    duplicates: int
    rejected: int


def timestamp_from_client(
    value: int | str | None, *, now: datetime
) -> tuple[datetime | None, bool]:
    """(UTC datetime or None when out of range, whether the server's time was used).

    Integers are read by magnitude: below 10^11 seconds, below 10^14 milliseconds, below 10^17
    microseconds, else nanoseconds (the Pi client re-sends buffered readings in ns). Texts are
    ISO 8601 with an offset (`2024-07-26T08:00:00Z`, `...+02:00`) or such a decimal number.
    Readings before 2000 or further in the future than the configured skew are out of range.
    """
    if value is None:
        return now, True
    if isinstance(value, str):
        text = value.strip()
        # ASCII only: str.isdigit() also holds for digits int() refuses (superscripts); and
        # short, since int() refuses more than 4300 digits (any over 30 are out of range).
        if text.isascii() and text.isdigit():
            if len(text) > 30:
                return None, False
            value = int(text)
        else:
            try:
                parsed = parse_datetime(text)
                # An offset can move a time at the ends of datetime's range out of it.
                moment = parsed.astimezone(UTC) if parsed and parsed.tzinfo else None
            except (ValueError, OverflowError):
                moment = None
            if moment is None:
                return None, False
            return _in_range(moment, now), False
    if value <= 0:
        return None, False
    if value < 10**11:
        micros = value * 1_000_000
    elif value < 10**14:
        micros = value * 1_000
    elif value < 10**17:
        micros = value
    else:
        micros = value // 1_000
    try:
        moment = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None, False
    return _in_range(moment, now), False


def _integer_timestamps(
    values: Sequence[int | str | None], now: datetime
) -> list[datetime | None] | None:
    """`timestamp_from_client` for a batch of plain integer timestamps, vectorised; None when
    some value is not such an integer (the caller then converts one by one)."""
    if not values or not all(type(value) is int for value in values):
        return None
    try:
        raw = np.fromiter(values, dtype=np.int64, count=len(values))
    except OverflowError:
        return None
    micros, valid = integer_timestamps_us(raw, now)
    if bool(valid.all()):
        return [EPOCH + timedelta(microseconds=m) for m in micros.tolist()]
    return [
        EPOCH + timedelta(microseconds=m) if ok else None
        for m, ok in zip(micros.tolist(), valid.tolist(), strict=True)
    ]


def integer_timestamps_us(raw: np.ndarray, now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """(µs since the epoch, in range) of int64 timestamps read as `timestamp_from_client` reads
    integers; entries not in range (0 and negative ones included) have any µs value."""
    capped = np.minimum(raw, 10**17)  # keeps the unused branches below from overflowing
    micros = np.where(
        raw < 10**11,
        np.minimum(capped, 10**11) * 1_000_000,
        np.where(
            raw < 10**14,
            np.minimum(capped, 10**14) * 1_000,
            np.where(raw < 10**17, raw, raw // 1_000),
        ),
    )
    one = timedelta(microseconds=1)
    latest = now + timedelta(seconds=int(settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS))
    earliest_us = (EARLIEST_READING - EPOCH) // one
    latest_us = (latest - EPOCH) // one
    valid = (raw > 0) & (micros >= earliest_us) & (micros <= latest_us)
    return micros, valid


def _in_range(moment: datetime, now: datetime) -> datetime | None:
    latest = now + timedelta(seconds=int(settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS))
    return moment if EARLIEST_READING <= moment <= latest else None


def _config(sensor: AuthenticatedSensor) -> planning.PlausibilityConfig:
    return planning.PlausibilityConfig(
        max_rate_per_minute=MAX_RATE_PER_MINUTE.get(str(sensor.sensor_type), Decimal("0.6")),
        replacement_readings=int(settings.ENERGYLEAF_METER_REPLACEMENT_READINGS),
    )


_COLUMNS = "id, timestamp, value, consumption, value_out, inserted, value_current, flags"
_INSERT_COLUMNS = READING_COLUMNS
# Above this many rows PostgreSQL gets them through COPY, the fastest way in.
COPY_THRESHOLD = 200


def _decimal(value: object) -> Decimal | None:
    """A column value as the Decimal the ORM would give (SQLite returns int, float or text)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(planning.QUANTUM)


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        parsed = parse_datetime(str(value))
        if parsed is None:
            raise ValueError(f"unreadable timestamp from the database: {value!r}")
        moment = parsed
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stored_around(sensor_id: int, first: datetime, last: datetime) -> list[planning.StoredReading]:
    """Stored readings from the one before `first` to the one after `last`, in one query.

    Hand-written SQL through a plain cursor: this runs for every reading, and building model
    instances through the ORM cost more than the query.
    """
    table = Reading._meta.db_table
    sql = (
        f"SELECT * FROM (SELECT {_COLUMNS} FROM {table} WHERE sensor_id = %s AND timestamp < %s "  # noqa: S608 - fixed identifiers
        "ORDER BY timestamp DESC LIMIT 1) AS before_row "
        f"UNION ALL SELECT {_COLUMNS} FROM {table} "
        "WHERE sensor_id = %s AND timestamp >= %s AND timestamp <= %s "
        f"UNION ALL SELECT * FROM (SELECT {_COLUMNS} FROM {table} WHERE sensor_id = %s "
        "AND timestamp > %s ORDER BY timestamp ASC LIMIT 1) AS after_row"
    )
    adapt = connection.ops.adapt_datetimefield_value  # the backend's own storage form
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [sensor_id, adapt(first), sensor_id, adapt(first), adapt(last), sensor_id, adapt(last)],
        )
        rows = cursor.fetchall()
    stored = [stored_reading(row) for row in rows]
    stored.sort(key=lambda row: row.timestamp)
    return stored


def stored_reading(row: Sequence[object]) -> planning.StoredReading:
    """A row of `_COLUMNS` (id, timestamp, value, consumption, value_out, inserted,
    value_current, flags) as the planner takes it."""
    pk, timestamp, value, consumption, value_out, inserted, value_current, flags = row
    return planning.StoredReading(
        pk=int(pk),  # type: ignore[call-overload]
        timestamp=_datetime(timestamp),
        value=_decimal(value) or Decimal(0),
        consumption=_decimal(consumption) or Decimal(0),
        value_out=_decimal(value_out),
        inserted=_decimal(inserted),
        value_current=_decimal(value_current),
        flags=int(flags),  # type: ignore[call-overload]
    )


def _copy_text(sensor_id: int, rows: list[planning.StoredReading], now: datetime) -> str:
    """`rows` as COPY text (tab-separated, `\\N` for NULL); numbers and ISO times need no
    escaping."""
    head = f"{sensor_id}\t"
    tail = f"\t{now.isoformat()}\n"
    null = "\\N"
    return "".join(
        [
            f"{head}{row.timestamp.isoformat()}\t{row.value!s}\t{row.consumption!s}\t"
            f"{null if row.value_out is None else str(row.value_out)}\t"
            f"{null if row.inserted is None else str(row.inserted)}\t"
            f"{null if row.value_current is None else str(row.value_current)}\t{row.flags}{tail}"
            for row in rows
        ]
    )


def _insert_readings(sensor_id: int, rows: list[planning.StoredReading], now: datetime) -> None:
    """Insert planned readings: COPY on PostgreSQL for large batches, else plain INSERTs.

    A conflict (which the sensor lock rules out) raises, so nothing is ever answered as stored
    that was not.
    """
    table = Reading._meta.db_table
    if connection.vendor == "postgresql" and len(rows) > COPY_THRESHOLD:
        columns = ", ".join(_INSERT_COLUMNS)
        with connection.cursor() as cursor:
            raw_cursor = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw_cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(_copy_text(sensor_id, rows, now))
        return
    adapt_time = connection.ops.adapt_datetimefield_value
    adapt_number = connection.ops.adapt_decimalfield_value
    received = adapt_time(now)
    params = [
        (
            sensor_id,
            adapt_time(row.timestamp),
            adapt_number(row.value, 30, 6),
            adapt_number(row.consumption, 30, 6),
            adapt_number(row.value_out, 30, 6),
            adapt_number(row.inserted, 30, 6),
            adapt_number(row.value_current, 30, 6),
            row.flags,
            received,
        )
        for row in rows
    ]
    placeholders = ", ".join(["%s"] * len(_INSERT_COLUMNS))
    sql = f"INSERT INTO {table} ({', '.join(_INSERT_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 - fixed identifiers
    with connection.cursor() as cursor:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)


def _pending_loader(sensor_id: int) -> planning.PendingLoader:
    def load(after: datetime) -> list[planning.PendingRejection]:
        rows = RejectedReading.objects.filter(
            sensor_id=sensor_id,
            measured_at__gt=after,
            resolved_at__isnull=True,
            reason__in=sorted(planning.REPLACEMENT_REASONS),
            value__isnull=False,
        ).order_by("measured_at")[:1000]
        return [
            planning.PendingRejection(
                pk=row.pk,
                timestamp=row.measured_at,
                reason=row.reason,
                value=row.value,
                value_out=_payload_decimal(row.payload.get("value_out")),
                value_current=_payload_decimal(row.payload.get("value_current")),
            )
            for row in rows
            if row.measured_at is not None and row.value is not None
        ]

    return load


def _payload(reading: ReadingInput) -> dict[str, object]:
    """A reading as kept in the rejected-readings log (never the token)."""
    return {
        "value": _payload_number(reading.value),
        "value_current": _payload_number(reading.value_current),
        "value_out": _payload_number(reading.value_out),
        "timestamp": reading.timestamp,
        "wire_format": reading.wire_format,
    }


def _payload_number(value: float | None) -> str | None:
    return None if value is None else repr(value)


def _payload_decimal(text: object) -> Decimal | None:
    if not isinstance(text, str):
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return planning.to_decimal(number) if math.isfinite(number) else None


def sensor_readings_ingest(
    *,
    token: str,
    readings: Sequence[ReadingInput],
    sensor_type: str | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Authenticate `token` and store `readings` of its sensor; one outcome per reading.

    Idempotent: a reading at the time of a stored one is answered as a duplicate (2xx) and not
    stored again, so re-sent batches store nothing twice. Refused readings are kept in the
    rejected-readings log with their reason. With `sensor_type`, the token's sensor must be of
    that type (the /api/v2/gas and /water paths). Raises TokenError (401),
    SensorTypeMismatchError (400) and, for a deactivated household's sensor, after keeping its
    readings in the rejected-readings log, HouseholdInactiveError (403); database errors
    propagate.
    """
    now = now or timezone.now()
    incoming = _incoming(readings, now)
    plan: planning.Plan | None = None
    with transaction.atomic():
        sensor = sensor_token_authenticate(
            token=token, now=now, lock=True, allow_inactive_household=True
        )
        if sensor_type is not None and sensor.sensor_type != sensor_type:
            raise SensorTypeMismatchError
        if sensor.household_active:
            plan = _plan_and_write(sensor, incoming, readings, now)
        else:
            _record_household_inactive(sensor, incoming, readings)
    if plan is None:  # refused after the refusal was committed
        raise HouseholdInactiveError
    return _result(sensor, plan, readings)


def _record_household_inactive(
    sensor: AuthenticatedSensor,
    incoming: list[planning.IncomingReading],
    readings: Sequence[ReadingInput],
) -> None:
    """Keep the readings of a deactivated household's sensor in the rejected-readings log (a
    re-sent reading is kept once), so that nothing is dropped silently and an admin who
    reactivates the household can see what was refused."""
    RejectedReading.objects.bulk_create(
        [
            RejectedReading(
                sensor_id=sensor.pk,
                measured_at=item.timestamp,
                reason=RejectedReading.Reason.HOUSEHOLD_INACTIVE,
                status_message=HouseholdInactiveError.message,
                value=planning.to_decimal(item.value),
                payload=_payload(readings[item.index]),
            )
            for item in incoming
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )


def _plan_and_write(
    sensor: AuthenticatedSensor,
    incoming: list[planning.IncomingReading],
    readings: Sequence[ReadingInput],
    now: datetime,
) -> planning.Plan:
    """Judge the readings against the stored ones and write the outcome (in the caller's
    transaction, under the sensor's lock)."""
    moments = [r.timestamp for r in incoming if r.timestamp is not None]
    stored = _stored_around(sensor.pk, min(moments), max(moments)) if moments else []
    plan = planning.plan_ingestion(
        stored=stored,
        incoming=incoming,
        increments=sensor.analog_rotations_per_kwh is not None,
        config=_config(sensor),
        load_pending=_pending_loader(sensor.pk),
    )
    _write(sensor, plan, readings, now)
    return plan


def _result(
    sensor: AuthenticatedSensor, plan: planning.Plan, readings: Sequence[ReadingInput]
) -> IngestResult:
    by_index = plan.outcomes
    outcomes = tuple(
        [
            ItemOutcome(i, outcome.status, outcome.message)
            for i, outcome in ((i, by_index[i]) for i in range(len(readings)))
        ]
    )
    accepted = duplicates = rejected = 0
    duplicate = planning.Reason.DUPLICATE_CONFLICT
    for outcome in by_index.values():
        if outcome.reason == duplicate:
            duplicates += 1
        elif outcome.status == 200:
            accepted += 1
        else:
            rejected += 1
    return IngestResult(
        sensor_id=sensor.pk,
        outcomes=outcomes,
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
    )


def _incoming(readings: Sequence[ReadingInput], now: datetime) -> list[planning.IncomingReading]:
    """The readings as the planner takes them, timestamps converted (vectorised for integers)."""
    moments = (
        _integer_timestamps([reading.timestamp for reading in readings], now)
        if len(readings) >= planning.FAST_PATH_MIN_READINGS
        else None
    )
    if moments is not None:
        return [
            planning.IncomingReading(
                index, moment, reading.value, reading.value_current, reading.value_out, False
            )
            for index, (reading, moment) in enumerate(zip(readings, moments, strict=True))
        ]
    incoming: list[planning.IncomingReading] = []
    for index, reading in enumerate(readings):
        moment, server_time = timestamp_from_client(reading.timestamp, now=now)
        incoming.append(
            planning.IncomingReading(
                index=index,
                timestamp=moment,
                value=reading.value,
                value_current=reading.value_current,
                value_out=reading.value_out,
                server_time=server_time,
            )
        )
    return incoming


def _write(
    sensor: AuthenticatedSensor,
    plan: planning.Plan,
    readings: Sequence[ReadingInput],
    now: datetime,
) -> None:
    if plan.inserts:
        _insert_readings(sensor.pk, plan.inserts, now)
    if plan.updates:
        Reading.objects.bulk_update(
            [
                Reading(
                    pk=row.pk, value=row.value, consumption=row.consumption, inserted=row.inserted
                )
                for row in plan.updates
            ],
            fields=["value", "consumption", "inserted"],
            batch_size=1000,
        )
    if plan.rejections:
        RejectedReading.objects.bulk_create(
            [
                RejectedReading(
                    sensor_id=sensor.pk,
                    measured_at=rejection.timestamp,
                    reason=rejection.reason,
                    status_message=rejection.message,
                    value=rejection.value,
                    payload=_payload(readings[rejection.index]),
                )
                for rejection in plan.rejections
            ],
            batch_size=2000,
            ignore_conflicts=True,
        )
    if plan.resolved_pending:
        RejectedReading.objects.filter(pk__in=plan.resolved_pending).update(
            resolved_at=now, resolution=RejectedReading.Resolution.METER_REPLACEMENT
        )
    for replacement in plan.meter_replacements:
        event = MeterEvent.objects.create(
            sensor_id=sensor.pk,
            kind=MeterEvent.Kind.REPLACEMENT,
            occurred_at=replacement.occurred_at,
            previous_value=replacement.previous_value,
            new_value=replacement.new_value,
            confirming_readings=replacement.confirming_readings,
        )
        audit_event_record(
            title="sensor/meter-replacement",
            app_function="sensor-input",
            sensor_id=sensor.pk,
            user_id=sensor.user_id,
            details={
                "meter_event_id": event.pk,
                "previous_value": str(replacement.previous_value),
                "new_value": str(replacement.new_value),
            },
        )
