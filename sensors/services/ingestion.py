"""Reading ingestion: one reading or a batch, idempotent, nothing dropped silently.

The request's token is resolved and the sensor row locked inside one transaction, so the
readings of one sensor are ingested one request at a time; the stored readings around the new
ones are loaded in one query, `sensors.planning.plan_ingestion` decides, and the plan is written
in the same transaction. Ingestion never talks to Celery: a broker outage cannot lose a reading.
When the database fails the exception propagates and the client gets a 5xx, never a 2xx.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from energyleaf.audit.services import audit_event_record

from .. import planning
from ..models import MeterEvent, Reading, RejectedReading, Sensor
from .tokens import AuthenticatedSensor, SensorProtocolError, sensor_token_authenticate

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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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
        if text.isdigit():
            value = int(text)
        else:
            try:
                parsed = parse_datetime(text)
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                return None, False
            return _in_range(parsed.astimezone(UTC), now), False
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


def _in_range(moment: datetime, now: datetime) -> datetime | None:
    latest = now + timedelta(seconds=int(settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS))
    return moment if EARLIEST_READING <= moment <= latest else None


def _config(sensor: AuthenticatedSensor) -> planning.PlausibilityConfig:
    return planning.PlausibilityConfig(
        max_rate_per_minute=MAX_RATE_PER_MINUTE.get(str(sensor.sensor_type), Decimal("0.6")),
        replacement_readings=int(settings.ENERGYLEAF_METER_REPLACEMENT_READINGS),
    )


_COLUMNS = "id, timestamp, value, consumption, value_out, inserted, value_current, flags"
_INSERT_COLUMNS = (
    "sensor_id",
    "timestamp",
    "value",
    "consumption",
    "value_out",
    "inserted",
    "value_current",
    "flags",
    "received_at",
)
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
    stored = [
        planning.StoredReading(
            pk=pk,
            timestamp=_datetime(timestamp),
            value=_decimal(value) or Decimal(0),
            consumption=_decimal(consumption) or Decimal(0),
            value_out=_decimal(value_out),
            inserted=_decimal(inserted),
            value_current=_decimal(value_current),
            flags=int(flags),
        )
        for pk, timestamp, value, consumption, value_out, inserted, value_current, flags in rows
    ]
    stored.sort(key=lambda row: row.timestamp)
    return stored


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
                for row in rows:
                    copy.write_row(
                        (
                            sensor_id,
                            row.timestamp,
                            row.value,
                            row.consumption,
                            row.value_out,
                            row.inserted,
                            row.value_current,
                            row.flags,
                            now,
                        )
                    )
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
    that type (the /api/v2/gas and /water paths). Raises TokenError (401) and
    SensorTypeMismatchError (400); database errors propagate.
    """
    now = now or timezone.now()
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
    with transaction.atomic():
        sensor = sensor_token_authenticate(token=token, now=now, lock=True)
        if sensor_type is not None and sensor.sensor_type != sensor_type:
            raise SensorTypeMismatchError
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

    outcomes = tuple(
        ItemOutcome(index=i, status=plan.outcomes[i].status, message=plan.outcomes[i].message)
        for i in range(len(readings))
    )
    kinds = Counter(
        "duplicate"
        if outcome.reason == planning.Reason.DUPLICATE_CONFLICT
        else ("accepted" if outcome.status == 200 else "rejected")
        for outcome in plan.outcomes.values()
    )
    return IngestResult(
        sensor_id=sensor.pk,
        outcomes=outcomes,
        accepted=kinds["accepted"],
        duplicates=kinds["duplicate"],
        rejected=kinds["rejected"],
    )


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
                    payload={
                        "value": _payload_number(readings[rejection.index].value),
                        "value_current": _payload_number(readings[rejection.index].value_current),
                        "value_out": _payload_number(readings[rejection.index].value_out),
                        "timestamp": readings[rejection.index].timestamp,
                        "wire_format": readings[rejection.index].wire_format,
                    },
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
