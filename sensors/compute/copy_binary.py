"""PostgreSQL's binary COPY format for planned readings, built with numpy in one go.

No Django here. `reading_rows` turns a `planning.ColumnPlan` into the body of
`COPY sensors_reading (READING_COLUMNS) FROM STDIN (FORMAT BINARY)`: no Python object per
reading, and PostgreSQL parses no text. The column types are fixed by the model
(`sensors.models.Reading`): bigint, timestamptz, numeric(30, 6) five times, smallint,
timestamptz; `sensors.services.batch` checks them before using this.

Binary forms (PostgreSQL's send/recv functions): integers big-endian; a timestamptz is int64 µs
since 2000-01-01 UTC; a numeric is int16 digit count, int16 weight (base-10000 exponent of the
first digit), uint16 sign (0x0000 or 0x4000), uint16 display scale, then base-10000 digits.
Every number here is written with the same six digits (weight 3, scale 6): the server strips
the leading and trailing zero digits and applies the column's numeric(30, 6) as it does for
text, so the stored value is the one the text form of the same number gives.
"""

from __future__ import annotations

import numpy as np

from .planning import ColumnPlan

READING_COLUMNS = (
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
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags 0, no header extension
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01 in µs since the Unix epoch
# Six base-10000 digits: four before the point (values below 10**16, so any int64 of
# micro-units), two after (6 decimals).
_NUMERIC_DIGITS = 6
_NUMERIC_WEIGHT = 3
_NUMERIC_BYTES = 8 + 2 * _NUMERIC_DIGITS
_FIELD = 4 + _NUMERIC_BYTES  # length word and value
# The row: field count, sensor_id, timestamp, five numerics, flags, received_at.
_ROW = 2 + 12 + 12 + 5 * _FIELD + 6 + 12
_NULL = np.frombuffer(np.array([-1], dtype=">i4").tobytes(), dtype=np.uint8)


def _big_endian(values: np.ndarray, dtype: str, width: int) -> np.ndarray:
    """(n, width) bytes of `values` as big-endian integers."""
    return np.ascontiguousarray(values.astype(dtype)).view(np.uint8).reshape(-1, width)


def _numeric(micros: np.ndarray) -> np.ndarray:
    """(n, _FIELD) bytes: length word and binary numeric of integer micro-units."""
    count = len(micros)
    magnitude = np.abs(micros.astype(np.int64))
    whole = magnitude // 1_000_000
    fraction = magnitude % 1_000_000
    digits = np.stack(
        [
            whole // 10**12 % 10_000,
            whole // 10**8 % 10_000,
            whole // 10**4 % 10_000,
            whole % 10_000,
            fraction // 100,
            fraction % 100 * 100,
        ],
        axis=1,
    )
    head = np.empty((count, 4), dtype=np.int64)
    head[:, 0] = _NUMERIC_DIGITS
    head[:, 1] = _NUMERIC_WEIGHT
    head[:, 2] = np.where(micros < 0, 0x4000, 0)
    head[:, 3] = 6  # display scale
    out = np.empty((count, _FIELD), dtype=np.uint8)
    out[:, 0:4] = _big_endian(np.full(count, _NUMERIC_BYTES), ">i4", 4)
    out[:, 4:12] = _big_endian(head, ">i2", 2).reshape(count, 8)
    out[:, 12:] = _big_endian(digits, ">i2", 2).reshape(count, 2 * _NUMERIC_DIGITS)
    return out


def reading_rows(sensor_id: int, plan: ColumnPlan, received_us: int) -> bytes:
    """The whole COPY body (header, one row per planned reading in plan order, trailer);
    `received_us` is `received_at` in µs since the Unix epoch. Any int64 micro-units fit."""
    count = len(plan)
    matrix = np.empty((count, _ROW), dtype=np.uint8)
    keep = np.ones((count, _ROW), dtype=bool)
    matrix[:, 0:2] = np.frombuffer(b"\x00\x09", dtype=np.uint8)
    eight = np.frombuffer(b"\x00\x00\x00\x08", dtype=np.uint8)
    matrix[:, 2:6] = eight
    matrix[:, 6:14] = np.frombuffer(np.array([sensor_id], dtype=">i8").tobytes(), dtype=np.uint8)
    matrix[:, 14:18] = eight
    matrix[:, 18:26] = _big_endian(plan.times_us - PG_EPOCH_US, ">i8", 8)
    position = 26
    numbers = (
        (plan.value, None),
        (plan.consumption, None),
        (plan.value_out, plan.has_out),
        (plan.inserted, plan.has_inserted),
        (plan.value_current, plan.has_current),
    )
    for column, present in numbers:
        end = position + _FIELD
        matrix[:, position:end] = _numeric(column)
        if present is not None and not bool(present.all()):
            absent = ~present.astype(bool)
            matrix[absent, position : position + 4] = _NULL
            keep[absent, position + 4 : end] = False
        position = end
    matrix[:, position : position + 4] = np.frombuffer(b"\x00\x00\x00\x02", dtype=np.uint8)
    matrix[:, position + 4 : position + 6] = _big_endian(plan.flags, ">i2", 2)
    position += 6
    matrix[:, position : position + 4] = eight
    matrix[:, position + 4 : position + 12] = np.frombuffer(
        np.array([received_us - PG_EPOCH_US], dtype=">i8").tobytes(), dtype=np.uint8
    )
    body = matrix.tobytes() if bool(keep.all()) else matrix[keep].tobytes()
    return HEADER + body + TRAILER
