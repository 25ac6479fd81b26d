"""Sensor endpoints through Django's test client: exact answer bytes and what gets stored.

Real HTTP through gunicorn (chunking, keep-alive, the clients' own parsing) is in `e2e/`.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energyleaf.audit.models import AuditEvent
from energyleaf.tests.helpers import body_bytes
from energyleaf.users.tests.factories import UserFactory
from sensors.models import MeterEvent, Reading, ReadingFlag, RejectedReading, Sensor, SensorToken
from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.services import sensor_assign, sensor_register, sensor_reset
from sensors.tests.helpers import SENSOR_ENDPOINTS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

T0 = 1_721_980_800  # 2024-07-26T08:00:00Z in seconds
T0_DT = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)


def _status_bytes(status: int, message: str) -> bytes:
    """SensorDataResponse / ScriptAcceptedResponse bytes built by hand (docs/protocol.md, "Byte
    examples")."""
    encoded = message.encode()
    varint = bytes([(status & 0x7F) | 0x80, status >> 7])
    return b"\x08" + varint + b"\x12" + bytes([len(encoded)]) + encoded


# --- transport ------------------------------------------------------------------------------------


def test_success_is_chunked_protobuf(sensor_client, sensor):
    response = sensor_client.post(
        "/api/v1/token",
        mapping.encode_token_request(mapping.TokenRequestData(sensor.client_id, 1, False)),
    )
    assert response.status_code == 200
    assert response.streaming  # no Content-Length: gunicorn sends it chunked, in one chunk
    assert response["Content-Type"] == "application/x-protobuf"
    assert not response.has_header("Content-Length")


def test_token_success_bytes(sensor_client, sensor):
    response = sensor_client.post(
        "/api/v1/token", bytes.fromhex("0a11") + sensor.client_id.encode() + bytes.fromhex("1001")
    )
    body = body_bytes(response)
    token = pb.TokenResponse.FromString(body).access_token
    assert body == b"\x0a\x1e" + token.encode() + bytes.fromhex("10901c18c801")
    assert token.isalnum()
    assert len(token) == 30


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "text/plain", "", "image/png"])
def test_body_is_read_whatever_the_content_type(sensor_client, sensor, content_type):
    token = sensor_client.token(sensor.client_id).access_token
    body = pb.SensorDataRequestV2(access_token=token, type=1, value=10.5).SerializeToString()
    response = sensor_client.post("/api/v1/sensor_input", body, content_type=content_type)
    assert body_bytes(response) == bytes.fromhex("08c801")
    assert Reading.objects.count() == 1


@pytest.mark.parametrize("path", SENSOR_ENDPOINTS)
@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
def test_other_methods_are_405_in_protobuf(client, path, method):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    body = body_bytes(response)
    assert response["Content-Type"] == "application/x-protobuf"
    if path == "/api/v1/token":
        message = pb.TokenResponse.FromString(body)
    elif path.endswith("batch"):
        message = batch_pb.SensorDataBatchResponse.FromString(body)
    else:
        message = pb.SensorDataResponse.FromString(body)
    assert message.status == 405
    assert message.status_message == "Method not allowed"


# --- /api/v1/token --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/sensor_input", "/api/v1/script_accepted"])
def test_empty_body_is_no_body(sensor_client, path):
    assert body_bytes(sensor_client.post(path, b"")) == _status_bytes(400, "No body")


def test_token_errors_bytes(sensor_client, db):
    no_body = body_bytes(sensor_client.post("/api/v1/token", b""))
    assert no_body == bytes.fromhex("18900322") + bytes([7]) + b"No body"
    invalid = body_bytes(sensor_client.post("/api/v1/token", b"\x0a\x05ab"))
    assert invalid == bytes.fromhex("189003220c") + b"Invalid data"
    unknown = body_bytes(sensor_client.post("/api/v1/token", b"\x0a\x11AA:BB:CC:DD:EE:FF\x10\x01"))
    assert unknown == bytes.fromhex("1894032210") + b"Sensor not found"


def test_unassigned_sensor_gets_no_token(sensor_client, db):
    sensor_register(client_id="AA:BB:CC:DD:EE:01", user=None)
    assert sensor_client.token("AA:BB:CC:DD:EE:01").status_message == "Sensor not found"
    assert SensorToken.objects.count() == 0


def test_tokens_are_stored_hashed_and_never_logged(sensor_client, sensor, caplog):
    caplog.set_level("DEBUG")
    token = sensor_client.token(sensor.client_id).access_token
    row = SensorToken.objects.get()
    assert row.token_hash != token
    assert len(row.token_hash) == 64
    assert token not in caplog.text
    assert token not in json.dumps(list(AuditEvent.objects.values("details")))
    assert AuditEvent.objects.filter(title="sensor/token-sent", sensor_id=sensor.pk).exists()


def test_new_token_keeps_other_live_tokens_until_a_bound(sensor_client, sensor):
    tokens = [sensor_client.token(sensor.client_id).access_token for _ in range(7)]
    assert SensorToken.objects.filter(sensor=sensor).count() == 5
    assert sensor_client.send(tokens[-2], 10.0, timestamp=T0)[0] == 200
    assert sensor_client.send(tokens[0], 10.1, timestamp=T0 + 60) == (401, "Token not found")


def test_script_is_sent_until_confirmed(sensor_client, db):
    sensor = sensor_register(client_id="AA:BB:CC:DD:EE:01", user=UserFactory(), script=">D\n>B\n")
    first = sensor_client.token(sensor.client_id)
    assert first.script == ">D\n>B\n"
    assert not first.HasField("analog_rotation_per_kwh")
    again = sensor_client.token(sensor.client_id)
    assert again.script == ">D\n>B\n"  # not confirmed yet
    request = pb.ScriptAcceptedRequest(access_token=again.access_token).SerializeToString()
    response = sensor_client.post("/api/v1/script_accepted", request)
    assert body_bytes(response) == bytes.fromhex("08c801")
    sensor.refresh_from_db()
    assert sensor.needs_script is False
    assert not sensor_client.token(sensor.client_id).HasField("script")
    forced = sensor_client.token(sensor.client_id, need_script=True)
    assert forced.script == ">D\n>B\n"
    assert AuditEvent.objects.filter(title="sensor/accepted-script").count() == 1


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("rotations field", {"analog_rotations_per_kwh": 75}),
        ("digits-only script, as the reference stored them", {"script": "75"}),
    ],
)
def test_analog_sensor_gets_rotations_instead_of_a_script(sensor_client, db, case, kwargs):
    sensor = sensor_register(client_id="AA:BB:CC:DD:EE:02", user=UserFactory(), **kwargs)
    answer = sensor_client.token(sensor.client_id)
    assert answer.analog_rotation_per_kwh == 75
    assert not answer.HasField("script")


def test_token_endpoint_is_rate_limited_per_mac(sensor_client, sensor, settings):
    settings.ENERGYLEAF_TOKEN_RATE_PER_CLIENT = "3/min"
    statuses = [sensor_client.token(sensor.client_id).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = sensor_client.post("/api/v1/token", b"\x0a\x11" + sensor.client_id.encode())
    assert body_bytes(limited) == bytes.fromhex("18ad0322") + bytes([17]) + b"Too many requests"
    assert SensorToken.objects.count() == 3


# --- /api/v1/sensor_input -------------------------------------------------------------------------


def test_sensor_input_error_bytes_match_the_reference_vectors(sensor_client, sensor):
    assert body_bytes(sensor_client.post("/api/v1/sensor_input", b"\xff\xff")) == _status_bytes(
        400, "Invalid data"
    )
    unknown = pb.SensorDataRequestV2(access_token="x" * 30, type=1, value=5).SerializeToString()
    assert (
        body_bytes(sensor_client.post("/api/v1/sensor_input", unknown))
        == bytes.fromhex("089103120f") + b"Token not found"
    )
    token = sensor_client.token(sensor.client_id).access_token
    assert sensor_client.send(token, 100.0, timestamp=T0) == (200, None)
    too_high = pb.SensorDataRequestV2(
        access_token=token, type=1, value=200.0, timestamp=T0 + 15
    ).SerializeToString()
    assert (
        body_bytes(sensor_client.post("/api/v1/sensor_input", too_high))
        == bytes.fromhex("089003120e") + b"Value too high"
    )


@pytest.mark.parametrize(
    ("case", "value", "timestamp", "message"),
    [
        ("zero", 0.0, None, "Value is equal to or less than zero"),
        ("negative", -1.0, None, "Value is equal to or less than zero"),
        ("nan", float("nan"), None, "Invalid data"),
        ("before 2000", 10.0, 946_684_799, "Timestamp out of range"),
        ("far future", 10.0, 4_102_444_800, "Timestamp out of range"),
        ("beyond ns range", 10.0, 2**64 - 1, "Timestamp out of range"),
    ],
)
def test_refused_readings_are_answered_and_logged(
    sensor_client, sensor, case, value, timestamp, message
):
    token = sensor_client.token(sensor.client_id).access_token
    assert sensor_client.send(token, value, timestamp=timestamp) == (400, message)
    assert Reading.objects.count() == 0
    rejected = RejectedReading.objects.get()
    assert rejected.sensor == sensor
    assert rejected.status_message == message
    assert "access_token" not in rejected.payload


def test_token_problems_are_401_on_every_endpoint(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    SensorToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert sensor_client.send(token, 10.0) == (401, "Token expired")
    accepted = pb.ScriptAcceptedRequest(access_token=token).SerializeToString()
    assert body_bytes(sensor_client.post("/api/v1/script_accepted", accepted)) == _status_bytes(
        401, "Token expired"
    )
    unknown = pb.ScriptAcceptedRequest(access_token="nope").SerializeToString()
    assert body_bytes(sensor_client.post("/api/v1/script_accepted", unknown)) == _status_bytes(
        401, "Token not found"
    )


def test_token_of_reset_sensor_stops_working(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    sensor_reset(sensor=sensor)
    assert sensor_client.send(token, 10.0) == (401, "Token not found")  # reset revoked it


def test_token_of_reassigned_sensor_stops_working(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    Sensor.objects.filter(pk=sensor.pk).update(user=UserFactory())  # bypassing the service
    assert sensor_client.send(token, 10.0) == (401, "Token invalid")
    sensor_assign(sensor=sensor, user=UserFactory())
    assert sensor_client.send(token, 10.0) == (401, "Token not found")
    assert Reading.objects.count() == 0


@pytest.mark.parametrize(
    ("unit", "timestamp"),
    [
        ("seconds", T0),
        ("milliseconds", T0 * 1000),
        ("microseconds", T0 * 1_000_000),
        ("nanoseconds", T0 * 1_000_000_000),
    ],
)
def test_timestamp_unit_is_recognised_by_magnitude(sensor_client, sensor, unit, timestamp):
    token = sensor_client.token(sensor.client_id).access_token
    assert sensor_client.send(token, 10.0, timestamp=timestamp) == (200, None)
    assert Reading.objects.get().timestamp == T0_DT


def test_pi_resend_vector_in_nanoseconds(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    body = (
        b"\x0a\x1e"
        + token.encode()
        + bytes.fromhex("1001" + "19a1f831e6d61cc840")
        + bytes.fromhex("3080 80acb0a08dedf217".replace(" ", ""))
    )
    assert body_bytes(sensor_client.post("/api/v1/sensor_input", body)) == bytes.fromhex("08c801")
    reading = Reading.objects.get()
    assert reading.timestamp == T0_DT
    assert str(reading.value) == "12345.678900"


def test_g1_float_message_is_stored_widened(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    body = b"\x0a\x1e" + token.encode() + bytes.fromhex("10011db7e64046")
    assert body_bytes(sensor_client.post("/api/v1/sensor_input", body)) == bytes.fromhex("08c801")
    reading = Reading.objects.get()
    assert str(reading.value) == "12345.678711"
    assert reading.flags == ReadingFlag.SERVER_TIME


def test_duplicate_is_2xx_and_stored_once(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    for _ in range(3):
        sensor_client.send(token, 10.0, timestamp=T0)
    assert Reading.objects.count() == 1
    assert sensor_client.send(token, 10.0, timestamp=T0) == (200, "Duplicate")


def test_late_reading_repairs_the_consumption_of_the_next(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    sensor_client.send(token, 10.0, timestamp=T0)
    sensor_client.send(token, 10.3, timestamp=T0 + 60)
    sensor_client.send(token, 10.1, timestamp=T0 + 30)
    rows = Reading.objects.order_by("timestamp").values_list("consumption", flat=True)
    assert [str(c) for c in rows] == ["0.000000", "0.100000", "0.200000"]


def test_meter_replacement_is_accepted_after_three_readings_and_recorded(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    sensor_client.send(token, 5000.0, timestamp=T0)
    answers = [
        sensor_client.send(token, 3.0 + i * 0.01, timestamp=T0 + 15 * (i + 1)) for i in range(4)
    ]
    assert answers == [
        (400, "Value lower than previous reading"),
        (400, "Value lower than previous reading"),
        (200, "Meter replacement detected"),
        (200, None),
    ]
    values = [str(v) for v in Reading.objects.order_by("timestamp").values_list("value", flat=True)]
    assert values == ["5000.000000", "3.000000", "3.010000", "3.020000", "3.030000"]
    assert MeterEvent.objects.get().previous_value == 5000
    assert RejectedReading.objects.filter(resolved_at__isnull=False).count() == 2
    assert AuditEvent.objects.filter(title="sensor/meter-replacement").count() == 1


def test_database_failure_is_500_and_not_success(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token

    def refuse_inserts(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        # An INSERT, or the live path's database function that inserts (PostgreSQL).
        if sql.lstrip().upper().startswith("INSERT") or "sensors_reading_insert_live" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_inserts):
        assert sensor_client.send(token, 10.0, timestamp=T0) == (500, "Database error")
    assert Reading.objects.count() == 0


# --- /api/v2 --------------------------------------------------------------------------------------


def test_v2_energy_with_text_timestamp(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    body = pb.EnergyDataRequest(
        access_token=token, value=20.5, value_current=300, timestamp="2024-07-26T10:00:00+02:00"
    ).SerializeToString()
    assert body_bytes(sensor_client.post("/api/v2/energy", body)) == bytes.fromhex("08c801")
    assert Reading.objects.get().timestamp == T0_DT
    naive = pb.EnergyDataRequest(
        access_token=token, value=20.6, timestamp="2024-07-26T10:00:15"
    ).SerializeToString()
    assert body_bytes(sensor_client.post("/api/v2/energy", naive)) == _status_bytes(
        400, "Timestamp out of range"
    )


@pytest.mark.parametrize(("path", "kind"), [("/api/v2/gas", "gas"), ("/api/v2/water", "water")])
def test_v2_gas_and_water_are_stored_for_their_sensor_type(sensor_client, db, path, kind):
    sensor = sensor_register(client_id="AA:BB:CC:DD:EE:09", user=UserFactory(), sensor_type=kind)
    token = sensor_client.token(sensor.client_id).access_token
    message = pb.GasDataRequest if kind == "gas" else pb.WaterDataRequest
    body = message(access_token=token, value=1234.567).SerializeToString()
    assert body_bytes(sensor_client.post(path, body)) == bytes.fromhex("08c801")
    assert str(Reading.objects.get(sensor=sensor).value) == "1234.567000"
    wrong = "/api/v2/water" if kind == "gas" else "/api/v2/gas"
    assert body_bytes(sensor_client.post(wrong, body)) == _status_bytes(400, "Sensor type mismatch")


# --- batch ----------------------------------------------------------------------------------------


def test_batch_protobuf_per_reading_results_and_idempotent(sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    readings = [
        mapping.BatchReadingData(100 + i * 0.01, 250.0, None, (T0 + 15 * i) * 1000)
        for i in range(50)
    ]
    readings.append(mapping.BatchReadingData(0.0, None, None, (T0 + 15 * 50) * 1000))
    body = mapping.encode_batch(mapping.BatchData(token, 1, tuple(readings)))
    for attempt in range(3):
        response = sensor_client.post("/api/v1/sensor_input/batch", body)
        answer = batch_pb.SensorDataBatchResponse.FromString(body_bytes(response))
        assert answer.status == 200
        assert response["X-Energyleaf-Batch-Max"] == "20000"
        assert len(answer.results) == 51
        assert answer.results[50].status == 400
        if attempt == 0:
            assert (answer.accepted, answer.duplicates, answer.rejected) == (50, 0, 1)
        else:
            assert (answer.accepted, answer.duplicates, answer.rejected) == (0, 50, 1)
    assert Reading.objects.count() == 50
    assert RejectedReading.objects.count() == 1


def test_batch_json_form(client, sensor_client, sensor):
    token = sensor_client.token(sensor.client_id).access_token
    payload = {
        "access_token": token,
        "readings": [
            {"value": 5.0, "timestamp": "2024-07-26T08:00:00Z"},
            {"value": 5.01, "timestamp": (T0 + 15) * 1_000_000_000, "value_current": 40},
            {"value": 4.0, "timestamp": T0 + 30},
        ],
    }
    response = client.post("/api/v1/sensor_input/batch", payload, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert [(r["status"], r["status_message"]) for r in body["results"]] == [
        (200, None),
        (200, None),
        (400, "Value lower than previous reading"),
    ]
    assert Reading.objects.count() == 2


@pytest.mark.parametrize(
    ("case", "payload"),
    [
        ("not json", "{"),
        ("no readings", {"access_token": "x", "readings": []}),
        ("text value", {"access_token": "x", "readings": [{"value": "5"}]}),
        ("NaN literal", '{"access_token": "x", "readings": [{"value": NaN}]}'),
        ("negative time", {"access_token": "x", "readings": [{"value": 5, "timestamp": -1}]}),
    ],
)
def test_batch_json_errors_are_400_json(client, db, case, payload):
    data = payload if isinstance(payload, str) else json.dumps(payload)
    response = client.post("/api/v1/sensor_input/batch", data, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"status": 400, "status_message": "Invalid data"}


def test_batch_over_the_limit_is_413(sensor_client, sensor, settings):
    settings.ENERGYLEAF_BATCH_MAX_READINGS = 10
    token = sensor_client.token(sensor.client_id).access_token
    readings = tuple(mapping.BatchReadingData(1 + i, None, None, T0 + i) for i in range(11))
    response = sensor_client.post(
        "/api/v1/sensor_input/batch", mapping.encode_batch(mapping.BatchData(token, 1, readings))
    )
    assert response.status_code == 413
    assert Reading.objects.count() == 0


def test_huge_body_is_413_not_500(sensor_client, db, settings):
    settings.ENERGYLEAF_SENSOR_MAX_BODY_BYTES = 1000
    response = sensor_client.post("/api/v1/sensor_input", b"\x0a" * 5000)
    assert response.status_code == 413
    assert pb.SensorDataResponse.FromString(body_bytes(response)).status == 413


# --- properties -----------------------------------------------------------------------------------


@contextmanager
def _counts_unchanged():
    before = (Reading.objects.count(), RejectedReading.objects.count(), SensorToken.objects.count())
    yield
    after = (Reading.objects.count(), RejectedReading.objects.count(), SensorToken.objects.count())
    assert after == before


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(max_size=2048), path=st.sampled_from(SENSOR_ENDPOINTS))
def test_no_body_makes_an_endpoint_fail_or_store(sensor_client, sensor, body, path):
    cache.clear()
    with _counts_unchanged():
        response = sensor_client.post(path, body)
        assert response.status_code < 500
        assert response.status_code != 200 or path == "/api/v1/token"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    value=st.floats(allow_nan=True, allow_infinity=True),
    current=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    out=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    timestamp=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
)
def test_no_reading_makes_sensor_input_fail(sensor_client, sensor, value, current, out, timestamp):
    cache.clear()
    if not hasattr(sensor, "plain_token"):  # the fixture lives across examples
        sensor.plain_token = sensor_client.token(sensor.client_id).access_token
    status, _ = sensor_client.send(
        sensor.plain_token,
        value,
        timestamp=timestamp or None,
        value_current=current,
        value_out=out,
    )
    assert status in {200, 400}
