"""The live single-reading path (sensors.services.live): the same answers and rows as the locked
path, two statements for a plain reading on PostgreSQL, and the locked path whenever the
neighbours changed between the read and the insert."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from energyleaf.tests.helpers import body_bytes
from energyleaf.users.tests.factories import UserFactory
from sensors.compute.planning import to_decimal
from sensors.models import Reading, RejectedReading, Sensor, SensorToken
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.services import (
    ReadingInput,
    live,
    sensor_reading_ingest,
    sensor_readings_ingest,
    sensor_register,
    sensor_token_issue,
)
from sensors.services.ingestion import SensorTypeMismatchError
from sensors.services.tokens import HouseholdInactiveError, TokenNotFoundError

T0_MS = 1_721_980_800_000
NOW = datetime(2024, 7, 27, tzinfo=UTC)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the fast path exists on PostgreSQL only"
)
_macs = itertools.count(1)


def _sensor(**extra) -> tuple[Sensor, str]:  # type: ignore[no-untyped-def]
    number = next(_macs)
    sensor = sensor_register(
        client_id=f"AA:BB:CD:{number >> 16 & 255:02X}:{number >> 8 & 255:02X}:{number & 255:02X}",
        user=UserFactory(),
        **extra,
    )
    token = sensor_token_issue(client_id=sensor.client_id, need_script=False).access_token
    return sensor, token


def _used_token(**extra) -> tuple[Sensor, str]:  # type: ignore[no-untyped-def]
    """A sensor whose token has been used once (its first reading, at T0)."""
    sensor, token = _sensor(**extra)
    first = sensor_reading_ingest(
        token=token, reading=ReadingInput(value=1000.0, timestamp=T0_MS), now=NOW
    )
    assert first.outcomes[0].status == 200
    return sensor, token


def _rows(sensor: Sensor) -> list[tuple[object, ...]]:
    return list(
        Reading.objects.filter(sensor=sensor)
        .order_by("timestamp")
        .values_list(
            "timestamp", "value", "consumption", "value_out", "inserted", "value_current", "flags"
        )
    )


def _rejections(sensor: Sensor) -> list[tuple[object, ...]]:
    return list(
        RejectedReading.objects.filter(sensor=sensor)
        .order_by("measured_at", "reason")
        .values_list("measured_at", "reason", "status_message", "value", "resolved_at")
    )


def _assert_consumption_chain(sensor: Sensor) -> None:
    rows = list(Reading.objects.filter(sensor=sensor).order_by("timestamp"))
    for before, after in itertools.pairwise(rows):
        assert after.consumption == after.value - before.value
    assert sum((r.consumption for r in rows), Decimal(0)) == rows[-1].value - rows[0].value


# Steps of 15 s in meter time (out of order, repeated) and registers that now and then fall,
# jump or collide with a stored reading: every branch of the planner for a single reading.
_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=12),
        st.one_of(
            st.integers(min_value=-3, max_value=30).map(lambda k: 1000 + k * 0.01),
            st.sampled_from([0.0, -1.0, 1000.0, 1000.6, 999.0, float("nan")]),
        ),
        st.sampled_from([None, 480.0, 50_000.0]),
        st.sampled_from([None, 5.0, 5.001, 4.0]),
    ),
    min_size=1,
    max_size=10,
)


@pytest.mark.django_db
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps, increments=st.booleans())
def test_live_path_answers_and_stores_what_the_locked_path_does(steps, increments):  # type: ignore[no-untyped-def]
    extra = {"analog_rotations_per_kwh": 75} if increments else {}
    live_sensor, live_token = _sensor(**extra)
    locked_sensor, locked_token = _sensor(**extra)
    for step, value, power, out in steps:
        reading = ReadingInput(
            value=value, value_current=power, value_out=out, timestamp=T0_MS + step * 15_000
        )
        fast = sensor_reading_ingest(token=live_token, reading=reading, now=NOW)
        locked = sensor_readings_ingest(token=locked_token, readings=[reading], now=NOW)
        assert (fast.outcomes, fast.accepted, fast.duplicates, fast.rejected) == (
            locked.outcomes,
            locked.accepted,
            locked.duplicates,
            locked.rejected,
        )
    assert _rows(live_sensor) == _rows(locked_sensor)
    assert _rejections(live_sensor) == _rejections(locked_sensor)


@pytest.mark.django_db
def test_refusals_and_token_errors_are_those_of_the_locked_path():
    sensor, token = _used_token(sensor_type=Sensor.SensorType.GAS)
    with pytest.raises(SensorTypeMismatchError):
        sensor_reading_ingest(
            token=token,
            reading=ReadingInput(value=1000.01, timestamp=T0_MS + 15_000),
            sensor_type=Sensor.SensorType.WATER,
            now=NOW,
        )
    with pytest.raises(TokenNotFoundError):
        sensor_reading_ingest(token="x" * 30, reading=ReadingInput(value=1.0), now=NOW)
    sensor.user.is_active = False
    sensor.user.save(update_fields=["is_active"])
    with pytest.raises(HouseholdInactiveError):
        sensor_reading_ingest(
            token=token, reading=ReadingInput(value=1000.01, timestamp=T0_MS + 15_000), now=NOW
        )
    assert RejectedReading.objects.get(sensor=sensor).reason == "household_inactive"
    assert len(_rows(sensor)) == 1


@postgresql_only
@pytest.mark.django_db
def test_a_plain_reading_costs_two_statements(django_assert_num_queries, sensor_client):  # type: ignore[no-untyped-def]
    sensor, token = _used_token()
    with django_assert_num_queries(2) as captured:
        result = sensor_reading_ingest(
            token=token,
            reading=ReadingInput(value=1000.004, value_current=480.0, timestamp=T0_MS + 15_000),
            now=NOW,
        )
    assert result.outcomes[0].status == 200
    assert [query["sql"].split("(")[0] for query in captured.captured_queries] == [
        f"SELECT * FROM {live.CONTEXT_FUNCTION}",  # noqa: S608 - fixed name
        f"SELECT {live.INSERT_FUNCTION}",
    ]
    # Through the endpoint as well, with the server's clock.
    with django_assert_num_queries(2):
        assert sensor_client.send(token, 1000.008) == (200, None)
    rows = _rows(sensor)
    assert [row[1:3] for row in rows] == [
        (Decimal("1000.000000"), Decimal("0.000000")),
        (Decimal("1000.004000"), Decimal("0.004000")),
        (Decimal("1000.008000"), Decimal("0.004000")),
    ]
    assert rows[1][5] == Decimal("480.000000")


@postgresql_only
@pytest.mark.django_db
def test_a_tokens_first_use_is_recorded_by_the_fast_path(django_assert_num_queries):  # type: ignore[no-untyped-def]
    """A fresh token's first reading costs the same two statements and records the first use
    exactly once, as the locked path does (migration 0011)."""
    sensor, token = _sensor()
    assert SensorToken.objects.get(sensor=sensor).used_at is None
    with django_assert_num_queries(2):
        first = sensor_reading_ingest(
            token=token, reading=ReadingInput(value=1000.0, timestamp=T0_MS), now=NOW
        )
    assert first.outcomes[0].status == 200
    assert SensorToken.objects.get(sensor=sensor).used_at == NOW
    later = datetime(2024, 7, 27, 0, 0, 15, tzinfo=UTC)
    with django_assert_num_queries(2):
        second = sensor_reading_ingest(
            token=token, reading=ReadingInput(value=1000.004, timestamp=T0_MS + 15_000), now=later
        )
    assert second.outcomes[0].status == 200
    assert SensorToken.objects.get(sensor=sensor).used_at == NOW  # recorded once, not moved
    assert len(_rows(sensor)) == 2


@postgresql_only
@pytest.mark.django_db
def test_a_first_use_answer_and_rows_match_the_locked_path():  # type: ignore[no-untyped-def]
    """The same first reading through the fast path and through the locked path."""
    fast_sensor, fast_token = _sensor()
    locked_sensor, locked_token = _sensor()
    reading = ReadingInput(value=1000.0, value_current=480.0, timestamp=T0_MS)
    fast = sensor_reading_ingest(token=fast_token, reading=reading, now=NOW)
    locked = sensor_readings_ingest(token=locked_token, readings=[reading], now=NOW)
    assert fast.outcomes == locked.outcomes
    assert _rows(fast_sensor) == _rows(locked_sensor)
    used = SensorToken.objects.filter(sensor__in=[fast_sensor, locked_sensor])
    assert sorted(used.values_list("used_at", flat=True)) == [NOW, NOW]


@postgresql_only
@pytest.mark.django_db
def test_the_insert_refuses_when_a_neighbour_changed_after_the_read():
    sensor, token = _used_token()
    moment = datetime.fromtimestamp((T0_MS + 2 * 15_000) / 1000, tz=UTC)
    context = live._context(token, moment, NOW, None)
    assert context is not None
    planned = live._plan(context, ReadingInput(value=1000.02), moment, False)
    assert planned is not None
    assert planned.consumption == Decimal("0.020000")
    # Another request stores a reading between the stored one and this one.
    between = sensor_readings_ingest(
        token=token, readings=[ReadingInput(value=1000.01, timestamp=T0_MS + 15_000)], now=NOW
    )
    assert between.outcomes[0].status == 200
    assert live._insert(context, planned, NOW) is False
    assert len(_rows(sensor)) == 2
    # A stale read of the neighbour after the reading's time is caught the same way.
    late = datetime.fromtimestamp((T0_MS + 15_000 // 2) / 1000, tz=UTC)
    context = live._context(token, late, NOW, None)
    assert context is not None
    assert context.after is not None
    planned = live._plan(context, ReadingInput(value=1000.005), late, False)
    assert planned is None  # a late reading changes its successor: locked path
    context = live._context(token, moment, NOW, None)
    assert context is not None
    planned = live._plan(context, ReadingInput(value=1000.02), moment, False)
    assert planned is not None
    assert live._insert(context, planned, NOW) is True
    _assert_consumption_chain(sensor)


def _wait_for_lock_waiter(timeout: float = 30.0) -> None:
    """Until some session waits for an advisory lock."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no session waited for the sensor's lock")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_reading_stored_between_read_and_insert_sends_the_live_reading_to_the_locked_path():
    """The live request reads its neighbours while another request holds the sensor's lock and
    has stored (not yet committed) the reading just before it. The live insert waits for the
    lock, sees that reading in its re-check and leaves the reading to the locked path; without
    the re-check its consumption would be counted from the older reading."""
    sensor, token = _used_token()
    results: list[object] = []

    def live_request() -> None:
        try:
            results.append(
                sensor_reading_ingest(
                    token=token,
                    reading=ReadingInput(value=1000.03, timestamp=T0_MS + 2 * 15_000),
                    now=NOW,
                )
            )
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        held = sensor_readings_ingest(
            token=token, readings=[ReadingInput(value=1000.01, timestamp=T0_MS + 15_000)], now=NOW
        )
        assert held.outcomes[0].status == 200
        thread = threading.Thread(target=live_request)
        thread.start()
        _wait_for_lock_waiter()
    thread.join(timeout=60)
    assert len(results) == 1
    result = results[0]
    assert not isinstance(result, BaseException), result
    assert result.outcomes[0].status == 200  # type: ignore[attr-defined]
    assert [row[1:3] for row in _rows(sensor)] == [
        (Decimal("1000.000000"), Decimal("0.000000")),
        (Decimal("1000.010000"), Decimal("0.010000")),
        (Decimal("1000.030000"), Decimal("0.020000")),
    ]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_threads_posting_one_sensor_at_once_lose_nothing():
    sensor, token = _used_token()
    per_thread = 40
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(offset: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(per_thread):
                step = 1 + 2 * i + offset  # the two threads interleave in meter time
                reading = ReadingInput(value=1000 + step * 0.01, timestamp=T0_MS + step * 15_000)
                result = sensor_reading_ingest(token=token, reading=reading)
                assert result.outcomes[0].status == 200
                assert result.outcomes[0].message in (None, "Duplicate")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    rows = list(Reading.objects.filter(sensor=sensor).order_by("timestamp"))
    assert len(rows) == 1 + 2 * per_thread
    assert [r.value for r in rows] == [to_decimal(1000 + step * 0.01) for step in range(len(rows))]
    _assert_consumption_chain(sensor)
    assert not RejectedReading.objects.filter(sensor=sensor).exists()


SINGLE_READING_PATHS = ("/api/v1/sensor_input", "/api/v2/energy", "/api/v2/gas", "/api/v2/water")


def _status(status: int, message: str | None = None) -> bytes:
    return pb.SensorDataResponse(status=status, status_message=message).SerializeToString()


@pytest.mark.django_db
@pytest.mark.parametrize("path", SINGLE_READING_PATHS)
def test_single_reading_endpoints_answer_every_request_in_one_protobuf_chunk(
    client, settings, path
):  # type: ignore[no-untyped-def]
    """The plain Django views of the single-reading paths answer as the DRF sensor views do:
    chunked protobuf with `Allow: POST`, whatever went wrong."""
    settings.ENERGYLEAF_SENSOR_MAX_BODY_BYTES = 64
    sensor, token = _used_token()
    message = {
        "/api/v1/sensor_input": pb.SensorDataRequestV2(access_token=token, type=1, value=1000.5),
        "/api/v2/energy": pb.EnergyDataRequest(access_token=token, value=1000.5),
        "/api/v2/gas": pb.GasDataRequest(access_token=token, value=1000.5),
        "/api/v2/water": pb.WaterDataRequest(access_token=token, value=1000.5),
    }[path]
    body = message.SerializeToString()
    cases = [
        (client.generic("POST", path, body, content_type="text/plain"), None),
        (client.generic("POST", path, b"\x0a" + b"x" * 80), _status(413, "Request too large")),
        (client.generic("POST", path, b""), _status(400, "No body")),
        (client.generic("POST", path, body, CONTENT_LENGTH=""), _status(400, "No body")),
        (client.generic("POST", path, b"\xff\xff"), _status(400, "Invalid data")),
        (client.put(path, body), _status(405, "Method not allowed")),
    ]
    # An electricity sensor's token: stored on the electricity paths, refused on gas and water.
    mismatch = path in ("/api/v2/gas", "/api/v2/water")
    first_expected = _status(400, "Sensor type mismatch") if mismatch else _status(200)
    for response, expected in cases:
        assert response.streaming
        assert response["Content-Type"] == "application/x-protobuf"
        assert response["Allow"] == "POST"
        answer = body_bytes(response)  # a streaming body can be read once
        assert pb.SensorDataResponse.FromString(answer).status == response.status_code
        assert answer == (expected or first_expected)
    assert Reading.objects.filter(sensor=sensor).count() == (1 if mismatch else 2)
