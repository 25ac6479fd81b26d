"""Reads for peak and anomaly detection: a sensor's readings as numpy arrays, the sensors to
run detection for, and stored sequences near a time span. Times are aware UTC."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import numpy.typing as npt
from django.db import connection

from analytics.models import Sequence
from sensors.mac import canonical_mac_or_none
from sensors.models import Reading, Sensor

_READING_TABLE = Reading._meta.db_table

# PostgreSQL: the whole series in one row as two bytea, packed by the server: each timestamp in
# its binary wire form (big-endian int64 microseconds since 2000-01-01 UTC) and each consumption
# as a big-endian float8. numpy reads them without making a Python object per reading.
_POSTGRES_SQL = (
    "SELECT string_agg(timestamptz_send(t), ''::bytea), "  # noqa: S608 - only the table name
    "string_agg(float8send(COALESCE(c, 'NaN')), ''::bytea) "
    'FROM (SELECT "timestamp" AS t, consumption::float8 AS c '
    f'FROM "{_READING_TABLE}" WHERE sensor_id = %s AND "timestamp" BETWEEN %s AND %s '
    'ORDER BY "timestamp") AS series'
)
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970
# SQLite stores timestamps as UTC text ("YYYY-MM-DD HH:MM:SS[.ffffff]"), parsed by numpy.
_SQLITE_SQL = (
    f'SELECT "timestamp", CAST(consumption AS REAL) FROM "{_READING_TABLE}" '  # noqa: S608
    f'WHERE sensor_id = %s AND "timestamp" BETWEEN %s AND %s ORDER BY "timestamp"'
)


def sensor_readings_arrays(
    *, sensor_id: int, start: datetime, end: datetime
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The sensor's readings with start <= timestamp <= end, ascending: int64 ns since the epoch
    (UTC) and float64 consumption (kWh since the previous reading). One SQL query."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_POSTGRES_SQL, [sensor_id, start, end])
            packed_times, packed_kwh = cursor.fetchone() or (None, None)
        if not packed_times or not packed_kwh:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        t_us = np.frombuffer(bytes(packed_times), dtype=">i8").astype(np.int64)
        kwh = np.frombuffer(bytes(packed_kwh), dtype=">f8").astype(np.float64)
        return (t_us + _POSTGRES_EPOCH_US) * 1000, kwh
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_SQLITE_SQL, [sensor_id, adapt(start), adapt(end)])
        rows = cursor.fetchall()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    texts, consumption = zip(*rows, strict=True)
    t_ns = np.array(
        [str(text).replace(" ", "T")[:26] for text in texts], dtype="datetime64[ns]"
    ).view(np.int64)
    kwh = np.array([np.nan if value is None else value for value in consumption], dtype=np.float64)
    return t_ns, kwh


def electricity_sensor_ids_assigned() -> list[int]:
    """Ids of the electricity sensors assigned to a household, ascending."""
    return list(
        Sensor.objects.filter(sensor_type=Sensor.SensorType.ELECTRICITY, user__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def sensor_id_by_client_id(*, client_id: str) -> int | None:
    """The id of the sensor with this MAC address (any spelling), or None."""
    mac = canonical_mac_or_none(client_id)
    if mac is None:
        return None
    return Sensor.objects.filter(client_id=mac).values_list("pk", flat=True).first()


def sequences_near(
    *,
    sensor_id: int,
    kinds: Iterable[str],
    start: datetime,
    end: datetime,
    for_update: bool = False,
) -> list[Sequence]:
    """Stored sequences of the sensor and kinds that overlap or touch [start, end], by start.

    With `for_update` the rows are locked until the end of the transaction.
    """
    queryset = Sequence.objects.filter(
        sensor_id=sensor_id, kind__in=list(kinds), end__gte=start, start__lte=end
    ).order_by("start", "pk")
    if for_update:
        queryset = queryset.select_for_update()
    return list(queryset)


def sequence_latest(*, sensor_id: int, kind: str, before: datetime) -> Sequence | None:
    """The stored sequence of the sensor and kind that starts at or before `before` and ends
    last, or None."""
    return (
        Sequence.objects.filter(sensor_id=sensor_id, kind=kind, start__lte=before)
        .order_by("-end", "-pk")
        .first()
    )
