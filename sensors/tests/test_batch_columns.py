"""The batch path as columns: decoding, the answer, the binary COPY and the vectorised service
against the general path (same answers, same stored rows, same refusals)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from energyleaf.users.tests.factories import UserFactory
from sensors.models import MeterEvent, Reading, RejectedReading
from sensors.protobuf import mapping
from sensors.services import (
    ReadingBatch,
    ReadingInput,
    sensor_batch_ingest,
    sensor_readings_ingest,
    sensor_register,
    sensor_token_issue,
)
from sensors.services.batch import BatchIngestResult, binary_copy_matches_model
from sensors.services.ingestion import COPY_THRESHOLD

T0_MS = 1_721_980_800_000  # 2024-07-26T08:00:00Z
NOW = datetime(2024, 8, 1, tzinfo=UTC)

# --- decoding -------------------------------------------------------------------------------------

FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1000.25, 1e-7]),
)
OPTIONAL = st.one_of(st.none(), FLOATS)
STAMPS = st.one_of(
    st.sampled_from([0, 1, T0_MS, T0_MS * 1000, T0_MS * 1_000_000, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**64 - 1),
)


@st.composite
def uniform_batches(draw):  # type: ignore[no-untyped-def]
    """Readings that share one layout (what a client usually sends), sometimes with an odd one."""
    count = draw(st.integers(min_value=1, max_value=40))
    current = draw(st.booleans())
    out = draw(st.booleans())
    digits = draw(st.sampled_from([1, T0_MS, T0_MS * 1_000_000]))
    readings = [
        mapping.BatchReadingData(
            draw(st.floats(min_value=0.5, max_value=1e9)),
            draw(FLOATS) if current else None,
            draw(FLOATS) if out else None,
            digits + k,
        )
        for k in range(count)
    ]
    if draw(st.booleans()):
        position = draw(st.integers(min_value=0, max_value=count - 1))
        readings[position] = mapping.BatchReadingData(
            draw(FLOATS), draw(OPTIONAL), draw(OPTIONAL), draw(STAMPS) or None
        )
    return readings


def _body(readings) -> bytes:  # type: ignore[no-untyped-def]
    return mapping.encode_batch(mapping.BatchData("tok", 1, tuple(readings)))


@hypothesis_settings(max_examples=300, deadline=None)
@given(uniform_batches())
def test_columns_decode_like_the_message(readings):  # type: ignore[no-untyped-def]
    body = _body(readings)
    columns = mapping.decode_batch_columns(body)
    expected = mapping.decode_batch(body)
    assert repr(columns.readings()) == repr(expected.readings)
    assert (columns.access_token, columns.sensor_type) == (expected.access_token, 1)


def test_columns_decode_odd_bodies_like_the_message():
    readings = [mapping.BatchReadingData(1.5, 2.0, None, T0_MS + k) for k in range(5)]
    plain = _body(readings)
    token_last = plain[5:] + plain[:5]  # the token after the readings: not one block
    unknown = plain + b"\x38\x01"  # an unknown varint field 7 at the end
    inner = bytearray(plain)
    inner[6] += 2  # the first reading one byte longer ...
    inner[7:7] = b"\x38\x01"  # ... by an unknown field inside it
    for body in (token_last, unknown, bytes(inner)):
        expected = mapping.decode_batch(body)
        assert repr(mapping.decode_batch_columns(body).readings()) == repr(expected.readings)
    with pytest.raises(mapping.InvalidPayload):
        mapping.decode_batch_columns(plain[:-1])


# --- the answer ---------------------------------------------------------------------------------


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=20_000),
    st.dictionaries(
        st.integers(min_value=0, max_value=20_000),
        st.tuples(
            st.sampled_from([200, 400, 401]),
            st.one_of(st.none(), st.sampled_from(["Duplicate", "Value too high", "é" * 200])),
        ),
        max_size=6,
    ),
)
def test_compact_answer_is_the_runtimes(count, exceptions):  # type: ignore[no-untyped-def]
    exceptions = {i: e for i, e in exceptions.items() if i < count}
    results = [
        mapping.BatchItemResultData(i, *exceptions.get(i, (200, None))) for i in range(count)
    ]
    counters = {"accepted": count, "duplicates": 2, "rejected": len(exceptions)}
    assert mapping.encode_batch_response_compact(
        200, count=count, exceptions=exceptions, **counters
    ) == mapping.encode_batch_response(200, results=results, **counters)


# --- the service against the general path -------------------------------------------------------

_sensors = itertools.count()


def _token() -> str:
    number = next(_sensors)
    client_id = f"AA:BB:CC:{number // 65536 % 256:02X}:{number // 256 % 256:02X}:{number % 256:02X}"
    sensor_register(client_id=client_id, user=UserFactory())
    return sensor_token_issue(client_id=client_id, need_script=False).access_token


def _batch(readings: list[ReadingInput]) -> ReadingBatch:
    return ReadingBatch(
        value=np.array([r.value for r in readings], dtype=np.float64),
        value_current=np.array([r.value_current or 0.0 for r in readings], dtype=np.float64),
        has_current=np.array([r.value_current is not None for r in readings], dtype=bool),
        value_out=np.array([r.value_out or 0.0 for r in readings], dtype=np.float64),
        has_out=np.array([r.value_out is not None for r in readings], dtype=bool),
        timestamp=np.array([r.timestamp or 0 for r in readings], dtype=np.uint64),
    )


def _stored(result: BatchIngestResult) -> list[tuple[str, ...]]:
    """Stored rows as text (on PostgreSQL the server's own text of each value)."""
    table = Reading._meta.db_table
    cast = "::text" if connection.vendor == "postgresql" else ""
    columns = ", ".join(
        f"{name}{cast}"
        for name in ("timestamp", "value", "consumption", "value_out", "inserted", "value_current")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, flags, received_at FROM {table} "  # noqa: S608 - test
            "WHERE sensor_id = %s ORDER BY timestamp",
            [result.sensor_id],
        )
        return [tuple(str(x) for x in row) for row in cursor.fetchall()]


def _refusals(sensor_id: int) -> list[tuple[object, ...]]:
    return sorted(
        (str(r.measured_at), r.reason, str(r.value), r.resolved_at is not None, str(r.payload))
        for r in RejectedReading.objects.filter(sensor_id=sensor_id)
    )


def _events(sensor_id: int) -> list[tuple[object, ...]]:
    return [
        (e.occurred_at, e.previous_value, e.new_value, e.confirming_readings)
        for e in MeterEvent.objects.filter(sensor_id=sensor_id).order_by("occurred_at")
    ]


def ingest_both(history: list[ReadingInput], readings: list[ReadingInput]) -> BatchIngestResult:
    """Store `history` for two new sensors, then `readings` through the columns for one and
    through the general path for the other; assert the answers and what is stored are the same
    (byte for byte on PostgreSQL). Returns the columns' answer."""
    results = []
    for columns in (True, False):
        token = _token()
        if history:
            sensor_readings_ingest(token=token, readings=history, now=NOW)
        if columns:
            results.append(sensor_batch_ingest(token=token, batch=_batch(readings), now=NOW))
        else:
            inputs = _batch(readings).inputs()  # the same wire format in the refusals' log
            general = sensor_readings_ingest(token=token, readings=inputs, now=NOW)
            results.append(BatchIngestResult.of(general))
    fast, general = results
    assert (fast.count, fast.accepted, fast.duplicates, fast.rejected) == (
        general.count,
        general.accepted,
        general.duplicates,
        general.rejected,
    )
    outcomes = [fast.outcome(i) for i in range(fast.count)]
    assert outcomes == [general.outcome(i) for i in range(general.count)]
    assert _stored(fast) == _stored(general)
    assert _refusals(fast.sensor_id) == _refusals(general.sensor_id)
    assert _events(fast.sensor_id) == _events(general.sensor_id)
    return fast


def _plain(count: int, *, first: int = 0, value0: float = 1000.0) -> list[ReadingInput]:
    return [
        ReadingInput(
            value=value0 + k * 0.002,
            value_current=float(480 + k % 40) - 0.25,
            value_out=None if k % 3 else 50.0 + k * 0.001,
            timestamp=T0_MS + (first + k) * 15_000,
        )
        for k in range(count)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("history", [0, 5])
def test_a_plain_batch_is_vectorised_and_stored_as_the_general_path_stores_it(history):
    size = COPY_THRESHOLD + 50  # PostgreSQL: the binary COPY
    result = ingest_both(
        _plain(history), _plain(size, first=history, value0=1000.0 + history * 0.002)
    )
    assert result.vectorised
    assert (result.accepted, result.exceptions) == (size, {})


@pytest.mark.django_db
def test_binary_copy_matches_the_readings_table():
    if connection.vendor != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's")
    assert binary_copy_matches_model()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_name = %s",
            [Reading._meta.db_table],
        )
        types = {name: (kind, precision, scale) for name, kind, precision, scale in cursor}
    assert types["sensor_id"][0] == "bigint"
    assert types["flags"][0] == "smallint"
    for name in ("timestamp", "received_at"):
        assert types[name][0] == "timestamp with time zone"
    for name in ("value", "consumption", "value_out", "inserted", "value_current"):
        assert types[name] == ("numeric", 30, 6)


KINDS = (
    "duplicate",  # a reading at the time of a stored one (same or other value)
    "swap",  # two neighbours out of order
    "jump",  # far too high
    "drop",  # lower than before
    "zero",
    "nan",
    "power",  # value_current outside the band
    "feed-in back",  # value_out goes back
    "no time",  # timestamp 0: the server's time
    "too early",  # before 2000
    "replacement",  # a new meter from here on: much lower, rising
    "negative zero power",
)


@st.composite
def scenarios(draw):  # type: ignore[no-untyped-def]
    """(history, readings): a sensor's stored readings and a batch, mostly plain continuations,
    often with one or more of KINDS somewhere (or re-sending some of the history)."""
    history_size = draw(st.sampled_from([0, 0, 3, 20]))
    size = draw(st.sampled_from([1, 5, 40, COPY_THRESHOLD + 11]))
    unit = draw(st.sampled_from([1, 1_000, 1_000_000]))  # timestamps in ms, µs or ns
    step_ms = draw(st.sampled_from([15_000, 1_000, 60_000]))
    rise = draw(st.sampled_from([0.0, 0.002, 0.1]))
    start = draw(st.sampled_from([1000.0, 0.5, 123456.789]))
    overlap = draw(st.sampled_from([0, 0, 0, 2, history_size]))
    resend = history_size and draw(st.booleans())  # the batch is (part of) the history
    current = draw(st.sampled_from(["all", "none", "some"]))
    out = draw(st.sampled_from(["all", "none", "some"]))
    total = history_size + size
    readings = [
        ReadingInput(
            value=start + k * rise,
            value_current=(
                None
                if current == "none" or (current == "some" and k % 2)
                else float(-300 + 17 * (k % 50))
            ),
            value_out=(
                None if out == "none" or (out == "some" and k % 3 == 1) else 10.0 + k * 0.0005
            ),
            timestamp=(T0_MS + k * step_ms) * unit,
        )
        for k in range(total)
    ]
    history = readings[:history_size]
    batch = list(readings[history_size - min(overlap, history_size) :])
    if resend:
        batch = list(history[draw(st.integers(min_value=0, max_value=history_size - 1)) :])
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        kind = draw(st.sampled_from(KINDS))
        at = draw(st.integers(min_value=0, max_value=len(batch) - 1))
        item = batch[at]
        if kind == "duplicate" and history:
            other = draw(st.sampled_from(history))
            batch[at] = ReadingInput(
                value=other.value + draw(st.sampled_from([0.0, 0.5])), timestamp=other.timestamp
            )
        elif kind == "swap" and at + 1 < len(batch):
            batch[at], batch[at + 1] = batch[at + 1], batch[at]
        elif kind == "jump":
            batch[at] = ReadingInput(item.value + 1e5, item.value_current, None, item.timestamp)
        elif kind == "drop":
            batch[at] = ReadingInput(item.value - 50, item.value_current, None, item.timestamp)
        elif kind == "zero":
            batch[at] = ReadingInput(0.0, None, None, item.timestamp)
        elif kind == "nan":
            batch[at] = ReadingInput(math.nan, math.nan, None, item.timestamp)
        elif kind == "power":
            batch[at] = ReadingInput(item.value, 45_000.0, item.value_out, item.timestamp)
        elif kind == "feed-in back" and item.value_out is not None:
            batch[at] = ReadingInput(item.value, item.value_current, 1.0, item.timestamp)
        elif kind == "no time":
            batch[at] = ReadingInput(item.value, item.value_current, item.value_out, None)
        elif kind == "too early":
            batch[at] = ReadingInput(item.value, None, None, 946_684_799)
        elif kind == "replacement":
            batch[at:] = [
                ReadingInput(5.0 + 0.001 * j, r.value_current, None, r.timestamp)
                for j, r in enumerate(batch[at:])
            ]
        elif kind == "negative zero power":
            batch[at] = ReadingInput(item.value, -0.0000001, item.value_out, item.timestamp)
    return history, batch


@pytest.mark.django_db
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_columns_answer_and_store_like_the_general_path(case):  # type: ignore[no-untyped-def]
    history, batch = case
    result = ingest_both(history, batch)
    event("vectorised" if result.vectorised else "general path")


@pytest.mark.django_db
def test_a_re_sent_batch_is_answered_from_one_query():
    history = _plain(COPY_THRESHOLD + 20)
    result = ingest_both(history, history[5:])
    assert result.vectorised
    assert (result.duplicates, result.default, result.exceptions) == (
        COPY_THRESHOLD + 15,
        (200, "Duplicate"),
        {},
    )
    changed = list(history[5:])
    changed[3] = ReadingInput(changed[3].value + 0.5, timestamp=changed[3].timestamp)
    assert not ingest_both(history, changed).vectorised  # a conflict to log: the general path


@pytest.mark.django_db
def test_a_batch_of_a_sensor_with_later_readings_takes_the_general_path():
    history = _plain(10, first=100)
    result = ingest_both(history, _plain(COPY_THRESHOLD + 5))
    assert not result.vectorised


@pytest.mark.django_db
def test_timestamps_in_seconds_at_the_future_limit(settings):
    settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS = 60
    edge = int((NOW - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) + 60
    readings = [ReadingInput(value=1.0 + 0.1 * k, timestamp=edge - 30 + 30 * k) for k in range(2)]
    result = ingest_both([], readings)
    assert result.vectorised
    late = [*readings, ReadingInput(value=3.5, timestamp=edge + 1)]
    assert not ingest_both([], late).vectorised


def test_batch_inputs_are_the_readings():
    readings = [
        ReadingInput(1.5, None, 2.0, T0_MS, "batch_protobuf"),
        ReadingInput(1.6, -3.0, None, None, "batch_protobuf"),
    ]
    assert _batch(readings).inputs() == readings


def test_readings_with_a_text_timestamp_are_not_columns():
    readings = [
        ReadingInput(1.5, timestamp=T0_MS),
        ReadingInput(1.6, timestamp="2024-07-26T08:00:15Z"),
    ]
    assert ReadingBatch.of_inputs(readings, "batch_json") is None
    batch = ReadingBatch.of_inputs(readings[:1], "batch_json")
    assert batch is not None
    assert batch.inputs() == [ReadingInput(1.5, None, None, T0_MS, "batch_json")]


@pytest.mark.django_db
@pytest.mark.parametrize("resend", [False, True])
def test_json_and_protobuf_batches_answer_alike(client, resend):
    """The JSON form takes the columns too (integer timestamps) and answers what protobuf does."""
    readings = _plain(COPY_THRESHOLD + 3)
    readings[7] = ReadingInput(readings[6].value, timestamp=readings[6].timestamp)  # a duplicate
    answers = []
    for form in ("json", "protobuf"):
        token = _token()
        if resend:
            sensor_readings_ingest(token=token, readings=readings)
        if form == "json":
            payload = {
                "access_token": token,
                "readings": [
                    {
                        "value": r.value,
                        "value_current": r.value_current,
                        "value_out": r.value_out,
                        "timestamp": r.timestamp,
                    }
                    for r in readings
                ],
            }
            response = client.post(
                "/api/v1/sensor_input/batch", payload, content_type="application/json"
            )
            body = response.json()
            answers.append(
                [(r["index"], r["status"], r["status_message"]) for r in body["results"]]
            )
        else:
            data = [
                mapping.BatchReadingData(r.value, r.value_current, r.value_out, r.timestamp)
                for r in readings
            ]
            response = client.generic(
                "POST",
                "/api/v1/sensor_input/batch",
                mapping.encode_batch(mapping.BatchData(token, 1, tuple(data))),
                content_type="application/x-protobuf",
            )
            answer = mapping.decode_batch_response(b"".join(response.streaming_content))
            answers.append([(r.index, r.status, r.status_message) for r in answer.results])
    assert answers[0] == answers[1]
    expected_duplicates = len(readings) if resend else 1
    assert sum(1 for _, _, message in answers[0] if message == "Duplicate") == expected_duplicates
