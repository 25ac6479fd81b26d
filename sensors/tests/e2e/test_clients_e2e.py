"""The field clients' real sequences, over real HTTP, against the real web server.

Each test replays what one client does (docs/protocol.md, "The clients in the field": Tasmota
driver, energyleaf-pi, analog ESP32 camera) with request bytes as the devices encode them,
compares the answers byte by byte with the vectors of docs/protocol.md, "Byte examples", and
checks what the server stored.
"""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, ReadingFlag, RejectedReading, Sensor, SensorToken
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.services import sensor_register, sensor_reset
from sensors.services.assignments import household_sensors_release
from sensors.services.tokens import token_hash

from .clients import (
    PROTOBUF,
    SENSOR_DATA_RESPONSE_MAX_SIZE,
    TOKEN_RESPONSE_MAX_SIZE,
    HttpConnection,
    TasmotaDriver,
    camera_post,
    status_answer,
    token_answer,
    token_error_answer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Byte vectors (docs/protocol.md, "Byte examples").
OK = bytes.fromhex("08c801")
TOKEN_EXPIRED = bytes.fromhex("0891 03 12 0d") + b"Token expired"
TOKEN_INVALID = bytes.fromhex("0891 03 12 0d") + b"Token invalid"
TOKEN_NOT_FOUND = bytes.fromhex("0891 03 12 0f") + b"Token not found"
SENSOR_NOT_FOUND = bytes.fromhex("1894 03 22 10") + b"Sensor not found"
DUPLICATE = bytes.fromhex("08c801 12 09") + b"Duplicate"

SML_SCRIPT = (
    ">D\n>B\n=>sensor53 r\n>M 1\n+1,3,s,0,9600,SML\n"
    "1,77070100010800ff@1000,Total In,kWh,energyleaf_kwh,4\n"
    "1,77070100020800ff@1000,Total Out,kWh,energyleaf_out,4\n"
    "1,77070100100700ff@1,Current,W,energyleaf_current,0\n#\n"
)
# Readings without a timestamp are stored at the server's time, and the plausibility limit is
# 0.6 kWh per minute of reading time: 0.0005 kWh needs 50 ms between two readings.
PAUSE = 0.12


def token_request(client_id: str, *, need_script: bool | None, sensor_type: int = 1) -> bytes:
    """A TokenRequest; `need_script` None leaves field 3 off the wire."""
    return mapping.encode_token_request(
        mapping.TokenRequestData(client_id, sensor_type, bool(need_script)),
        send_need_script=need_script is not None,
    )


def reading_request(
    token: str,
    value: float,
    *,
    sensor_type: int = 1,
    value_current: float | None = None,
    value_out: float | None = None,
    timestamp: int | None = None,
) -> bytes:
    """A SensorDataRequestV2 as the devices encode it."""
    return mapping.encode_sensor_input(
        mapping.ReadingData(token, sensor_type, value, value_current, value_out, timestamp, "v2")
    )


def token_of(body: bytes) -> str:
    message = pb.TokenResponse.FromString(body)
    assert message.status == 200
    assert len(message.access_token) == 30
    return message.access_token


def readings_of(sensor: Sensor) -> list[Reading]:
    return list(Reading.objects.filter(sensor=sensor).order_by("timestamp"))


def test_tasmota_boot_script_readings_and_token_renewal(web_server):
    """The Tasmota driver's life on one kept-alive connection: boot asks for the script and gets
    it, confirms it (needs_script cleared), renews without a script, sends readings that are all
    answered `08 c8 01` and stored with server time and consumption deltas; an expired token is
    HTTP 401 `Token expired` and the same reading re-sent with a new token is stored. Every answer
    is chunked protobuf in one chunk within the nanopb size, and the connection is never closed."""
    mac = "5C:CF:7F:12:34:56"
    sensor = sensor_register(client_id=mac, user=UserFactory(), script=SML_SCRIPT)
    assert sensor.needs_script
    with TasmotaDriver(web_server.host, web_server.port) as driver:
        local_address = driver.connection.local_address

        # Boot: the default script was found, so the driver asks for one.
        request = token_request(mac, need_script=True)
        assert request == b"\x0a\x11" + mac.encode() + b"\x10\x01\x18\x01"
        answer = driver.post("/api/v1/token", request)
        assert answer.status == 200
        token = token_of(answer.first_chunk)
        assert answer.first_chunk == token_answer(token, script=SML_SCRIPT)
        assert answer.drained_chunks == ()
        assert len(answer.first_chunk) <= TOKEN_RESPONSE_MAX_SIZE

        accepted = driver.post(
            "/api/v1/script_accepted",
            mapping.encode_script_accepted(mapping.ScriptAcceptedData(token)),
        )
        assert (accepted.status, accepted.first_chunk) == (200, OK)
        sensor.refresh_from_db()
        assert sensor.needs_script is False

        # Renewal: no need_script on the wire, and the script is not sent again.
        answer = driver.post("/api/v1/token", token_request(mac, need_script=None))
        assert answer.status == 200
        token = token_of(answer.first_chunk)
        assert answer.first_chunk == token_answer(token)

        # Readings every ~21 s in the field; here a short pause keeps them plausible.
        first = reading_request(token, 12345.6789, value_current=230.5, value_out=10.25)
        assert first == (
            b"\x0a\x1e"
            + token.encode()
            + bytes.fromhex("1001 19a1f831e6d61cc840 210000000000d06c40 290000000000802440")
        )
        values = [(12345.6789, 230.5, 10.25)] + [
            (12345.6789 + 0.0005 * i, 230.5 + i, 10.25 + 0.0001 * i) for i in range(1, 4)
        ]
        started = timezone.now()
        for number, (value, current, out) in enumerate(values):
            if number:
                time.sleep(PAUSE)
            answer = driver.post(
                "/api/v1/sensor_input",
                reading_request(token, value, value_current=current, value_out=out),
            )
            assert (answer.status, answer.first_chunk, answer.drained_chunks) == (200, OK, ())
            assert len(answer.first_chunk) <= SENSOR_DATA_RESPONSE_MAX_SIZE
            assert answer.answer.header("Content-Type") == PROTOBUF
        finished = timezone.now()

        rows = readings_of(sensor)
        assert [
            (r.value, r.consumption, r.value_current, r.value_out, r.inserted) for r in rows
        ] == [
            (Decimal("12345.678900"), Decimal(0), Decimal("230.5"), Decimal("10.25"), None),
            *(
                (
                    Decimal("12345.678900") + Decimal("0.0005") * i,
                    Decimal("0.000500"),
                    Decimal(230.5 + i),
                    Decimal("10.25") + Decimal("0.0001") * i,
                    Decimal("0.000100"),
                )
                for i in range(1, 4)
            ),
        ]
        assert all(started <= r.timestamp <= finished for r in rows)
        assert all(r.flags == ReadingFlag.SERVER_TIME for r in rows)

        # The token expires: the driver gets HTTP 401, fetches a new token, re-sends once.
        SensorToken.objects.filter(token_hash=token_hash(token)).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        pending = reading_request(token, 12345.6809, value_current=234.5, value_out=10.2504)
        time.sleep(PAUSE)
        answer = driver.post("/api/v1/sensor_input", pending)
        assert (answer.status, answer.first_chunk, answer.drained_chunks) == (
            401,
            TOKEN_EXPIRED,
            (),
        )
        assert answer.answer.chunked
        assert answer.answer.header("Content-Type") == PROTOBUF
        assert Reading.objects.filter(sensor=sensor).count() == 4

        answer = driver.post("/api/v1/token", token_request(mac, need_script=None))
        new_token = token_of(answer.first_chunk)
        assert new_token != token
        assert answer.first_chunk == token_answer(new_token)
        resent = reading_request(new_token, 12345.6809, value_current=234.5, value_out=10.2504)
        answer = driver.post("/api/v1/sensor_input", resent)
        assert (answer.status, answer.first_chunk) == (200, OK)

        # One TCP connection carried all ten requests.
        assert driver.connection.requests == 10
        assert driver.connection.local_address == local_address
        assert driver.connection.is_open()

    rows = readings_of(sensor)
    assert len(rows) == 5
    assert (rows[-1].value, rows[-1].consumption) == (Decimal("12345.680900"), Decimal("0.0005"))
    assert RejectedReading.objects.count() == 0


def test_pi_client_live_readings_then_buffered_nanosecond_resync(web_server):
    """The Pi client: a TokenRequest with need_script explicitly false (`18 00`) gets no script
    even though one is stored; live readings without timestamp are stored at server time; the
    buffered readings re-sent newest-first with nanosecond timestamps are all 200 and stored at
    their exact UTC instants before the live ones, with the consumption of every reading after
    a late one recomputed; re-sending them is 200 `Duplicate` and stores nothing twice."""
    mac = "B8:27:EB:12:34:56"
    sensor = sensor_register(
        client_id=mac, user=UserFactory(), script=SML_SCRIPT, needs_script=False
    )
    headers = (f"Content-Type: {PROTOBUF}", "Accept: */*")
    with HttpConnection(web_server.host, web_server.port) as pi:
        request = token_request(mac, need_script=False)
        assert request == b"\x0a\x11" + mac.encode() + b"\x10\x01\x18\x00"
        answer = pi.request("POST", "/api/v1/token", request, headers)
        assert answer.status == 200
        token = token_of(answer.body)
        assert answer.body == token_answer(token)

        live = [500.0, 500.0005, 500.001]
        started = timezone.now()
        for number, value in enumerate(live):
            if number:
                time.sleep(PAUSE)
            answer = pi.request(
                "POST", "/api/v1/sensor_input", reading_request(token, value), headers
            )
            assert (answer.status, answer.body) == (200, OK)
        finished = timezone.now()

        # Buffered while offline on 2024-07-26 from 08:00:00Z, every 15 s; re-sent newest-first
        # in nanoseconds, with value_current wrongly set to value_out (as the Pi does).
        base = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
        base_ns = 1_721_980_800_000_000_000
        assert base.timestamp() * 10**9 == base_ns
        buffered = [
            (base_ns + 15 * i * 10**9, 499.0 + 0.002 * i, 7.5 + 0.001 * i) for i in range(4)
        ]
        bodies = [
            reading_request(token, value, value_current=out, value_out=out, timestamp=ns)
            for ns, value, out in reversed(buffered)
        ]
        assert bodies[-1].endswith(bytes.fromhex("30 80 80 ac b0 a0 8d ed f2 17"))
        for body in bodies:
            answer = pi.request("POST", "/api/v1/sensor_input", body, headers)
            assert (answer.status, answer.body) == (200, OK)

        rows = readings_of(sensor)
        assert [r.timestamp for r in rows[:4]] == [
            base + timedelta(seconds=15 * i) for i in range(4)
        ]
        assert all(started <= r.timestamp <= finished for r in rows[4:])
        assert [(r.value, r.consumption) for r in rows] == [
            (Decimal("499.000000"), Decimal(0)),
            (Decimal("499.002000"), Decimal("0.002")),
            (Decimal("499.004000"), Decimal("0.002")),
            (Decimal("499.006000"), Decimal("0.002")),
            (Decimal("500.000000"), Decimal("0.994")),  # recomputed: was 0 as the first reading
            (Decimal("500.000500"), Decimal("0.0005")),
            (Decimal("500.001000"), Decimal("0.0005")),
        ]
        assert [r.inserted for r in rows[:4]] == [
            None,
            Decimal("0.001"),
            Decimal("0.001"),
            Decimal("0.001"),
        ]
        assert all(r.flags & ReadingFlag.BACKFILLED for r in rows[:4])
        assert all(r.flags == ReadingFlag.SERVER_TIME for r in rows[4:])

        # The next resync sends them again: answered as duplicates, stored once.
        for body in bodies:
            answer = pi.request("POST", "/api/v1/sensor_input", body, headers)
            assert (answer.status, answer.body) == (200, DUPLICATE)
        assert pi.requests == 1 + 3 + 4 + 4

    assert Reading.objects.filter(sensor=sensor).count() == 7
    assert RejectedReading.objects.count() == 0


def test_analog_camera_rotations_and_increments(web_server):
    """The analog ESP32 camera: a TokenRequest with only client_id gets the token and
    analog_rotation_per_kwh 75 (field 6, no script); readings with type 0 left off the wire and
    kWh increments as value are stored as a running register (value = sum) with consumption =
    increment, and an increment of 0 is accepted. The answers pass the camera's own checks
    (code at characters 10-12, exact `Content-Type: application/x-protobuf` line)."""
    mac = "24:0A:C4:12:34:56"
    sensor = sensor_register(client_id=mac, user=UserFactory(), analog_rotations_per_kwh=75)
    host, port = web_server.host, web_server.port

    request = token_request(mac, need_script=None, sensor_type=0)
    assert request == b"\x0a\x11" + mac.encode()
    answer = camera_post(host, port, "/api/v1/token", request)
    assert answer.status == 200
    token = token_of(answer.body)
    assert answer.body == token_answer(token, rotations=75)
    assert answer.body.endswith(b"\x30\x4b")

    increments = [0.0004, 0.0003, 0.0]
    for number, increment in enumerate(increments):
        if number:
            time.sleep(PAUSE)
        body = reading_request(token, increment, sensor_type=0)
        # Type 0 is not encoded; a 0 increment leaves the value field off the wire as well.
        value_field = b"\x19" + struct.pack("<d", increment) if increment else b""
        assert body == b"\x0a\x1e" + token.encode() + value_field
        answer = camera_post(host, port, "/api/v1/sensor_input", body)
        assert (answer.status, answer.body) == (200, OK)

    rows = readings_of(sensor)
    assert [(r.value, r.consumption) for r in rows] == [
        (Decimal("0.000400"), Decimal("0.000400")),
        (Decimal("0.000700"), Decimal("0.000300")),
        (Decimal("0.000700"), Decimal("0")),
    ]
    assert RejectedReading.objects.count() == 0


SENSOR_ENDPOINTS = [
    ("/api/v1/token", token_error_answer(405, "Method not allowed")),
    ("/api/v1/sensor_input", status_answer(405, "Method not allowed")),
    ("/api/v1/sensor_input/batch", status_answer(405, "Method not allowed")),
    ("/api/v1/script_accepted", status_answer(405, "Method not allowed")),
    ("/api/v2/energy", status_answer(405, "Method not allowed")),
    ("/api/v2/gas", status_answer(405, "Method not allowed")),
    ("/api/v2/water", status_answer(405, "Method not allowed")),
]


def test_get_on_every_sensor_endpoint_is_a_chunked_protobuf_405(web_server):
    """GET on each sensor endpoint is HTTP 405 with a protobuf body whose status is 405 (the
    endpoint's own message type), still chunked in one chunk, on a connection kept open."""
    assert SENSOR_ENDPOINTS[1][1] == bytes.fromhex("08 95 03 12 12") + b"Method not allowed"
    with HttpConnection(web_server.host, web_server.port) as conn:
        for path, expected in SENSOR_ENDPOINTS:
            answer = conn.request("GET", path, headers=("User-Agent: Energyleaf-Sensor-Digital",))
            assert answer.status == 405, path
            assert answer.chunked, path
            assert answer.chunks == (expected,), path
            assert answer.header("Content-Type") == PROTOBUF, path
            assert conn.is_open(), path
        assert conn.requests == len(SENSOR_ENDPOINTS)


def test_405_allow_header_lists_only_methods_the_endpoint_accepts(web_server):
    """RFC 9110 §15.5.6: the Allow header of a 405 lists the methods the endpoint supports, so
    no method it lists may itself be answered 405."""
    with HttpConnection(web_server.host, web_server.port) as conn:
        for path, _ in SENSOR_ENDPOINTS:
            allow = conn.request("GET", path).header("Allow") or ""
            methods = [method.strip() for method in allow.split(",")]
            assert "POST" in methods, path
            for method in methods:
                if method != "POST":
                    assert conn.request(method, path).status != 405, (path, method, allow)


def test_token_of_a_reset_sensor_is_refused_with_401(web_server):
    """After an admin reset (sensor_reset: unassigned, tokens revoked) the sensor's old token is
    HTTP 401 on /sensor_input and /script_accepted (so clients fetch a new token), the reading is
    not stored, and the token request for the now unassigned MAC is 404 `Sensor not found`.
    The revoked token is unknown to the server, hence `Token not found` (as in the reference)."""
    mac = "5C:CF:7F:AB:CD:EF"
    sensor = sensor_register(client_id=mac, user=UserFactory())
    with TasmotaDriver(web_server.host, web_server.port) as driver:
        token = token_of(
            driver.post("/api/v1/token", token_request(mac, need_script=None)).first_chunk
        )
        answer = driver.post("/api/v1/sensor_input", reading_request(token, 100.0))
        assert (answer.status, answer.first_chunk) == (200, OK)

        sensor_reset(sensor=sensor)

        time.sleep(PAUSE)
        answer = driver.post("/api/v1/sensor_input", reading_request(token, 100.0005))
        assert (answer.status, answer.first_chunk) == (401, TOKEN_NOT_FOUND)
        answer = driver.post(
            "/api/v1/script_accepted",
            mapping.encode_script_accepted(mapping.ScriptAcceptedData(token)),
        )
        assert (answer.status, answer.first_chunk) == (401, TOKEN_NOT_FOUND)
        answer = driver.post("/api/v1/token", token_request(mac, need_script=None))
        assert (answer.status, answer.first_chunk) == (404, SENSOR_NOT_FOUND)
    assert Reading.objects.filter(sensor=sensor).count() == 1
    sensor.refresh_from_db()
    assert (sensor.user_id, sensor.needs_script) == (None, True)


def test_token_of_a_sensor_whose_household_was_deleted_is_token_invalid(web_server):
    """A token that is still stored but whose sensor lost its household (the user was deleted,
    which unassigns the sensor without revoking tokens) is HTTP 401 `Token invalid`. The
    deletion is done as `analytics.services.households.households_delete` does it: the
    household's sensors are released first (the database refuses an open period without a
    household)."""
    mac = "5C:CF:7F:AB:CD:00"
    user = UserFactory()
    sensor = sensor_register(client_id=mac, user=user)
    with TasmotaDriver(web_server.host, web_server.port) as driver:
        token = token_of(
            driver.post("/api/v1/token", token_request(mac, need_script=None)).first_chunk
        )
        household_sensors_release(user_id=user.pk, at=timezone.now())
        user.delete()
        assert SensorToken.objects.filter(sensor=sensor).exists()
        answer = driver.post("/api/v1/sensor_input", reading_request(token, 100.0))
        assert (answer.status, answer.first_chunk) == (401, TOKEN_INVALID)
    assert not Reading.objects.filter(sensor=sensor).exists()
