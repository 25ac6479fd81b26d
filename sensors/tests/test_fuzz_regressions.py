"""Replays of fuzzing inputs (bench/fuzz) with the rules the harnesses check.

Every file under `sensors/tests/fuzz_corpus/<harness>/` (written there by `bench/fuzz/run.py` when
a harness crashes) is replayed here, next to hand-picked awkward inputs, so a fixed crash stays
fixed. The rules:

* wire: a decoder raises nothing but InvalidPayload, and a body it accepts passes the scanner;
* batch_json: the parser raises nothing but ParseError, accepted readings hold finite numbers;
* timestamps: nothing raises, results are UTC and in range, the vectorised conversion equals
  converting one by one;
* endpoints: every answer is below 500 and its body's `status` equals the HTTP status.

The first byte of a wire/endpoint/timestamp input selects the decoder, endpoint or form, as in
the harnesses (`bench/fuzz/seeds.py`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError

from analytics.api.protobuf import mapping as ml_mapping
from energyleaf.tests.helpers import body_bytes
from energyleaf.users.tests.factories import UserFactory
from sensors.api.parsers import LimitedJSONParser
from sensors.api.serializers import BatchInputSerializer
from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.protobuf.wire import InvalidPayload, scan_fields
from sensors.services import ingestion, sensor_register, sensor_token_issue
from sensors.tests.helpers import SENSOR_ENDPOINTS

CORPUS = Path(__file__).parent / "fuzz_corpus"
TOKEN_PLACEHOLDER = b"~" * 30

# (decoder, schema), in the harness's selector order (bench/fuzz/fuzz_wire.py).
WIRE = (
    (mapping.decode_token_request, mapping._TOKEN_REQUEST),
    (mapping.decode_sensor_input, mapping._SENSOR_INPUT),
    (mapping.decode_script_accepted, mapping._SCRIPT_ACCEPTED),
    (mapping.decode_energy, mapping._ENERGY),
    (mapping.decode_gas, mapping._GAS_OR_WATER),
    (mapping.decode_water, mapping._GAS_OR_WATER),
    (mapping.decode_batch, mapping._BATCH),
    (ml_mapping.decode_ml_peak_request, ml_mapping.ML_PEAK_REQUEST),
    (ml_mapping.decode_ml_peak_response, ml_mapping.ML_PEAK_RESPONSE),
)

_TOKEN = b"\x0a\x1e" + TOKEN_PLACEHOLDER
_AWKWARD_BODIES = [
    b"",
    b"\x80",  # truncated varint tag
    b"\x08" + b"\xff" * 10 + b"\x01",  # varint longer than 10 bytes
    b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # varint above 2**64
    b"\x00\x01",  # field number 0
    b"\x0b\x0c",  # group wire types
    b"\x0a\xff\xff\xff\xff\x0f",  # length far beyond the body
    b"\x0a\x02\xc3\x28",  # invalid UTF-8 in a string
    _TOKEN + b"\x10\x01\x19" + b"\x00" * 6 + b"\xf8\x7f",  # NaN value
    _TOKEN + b"\x10\x01\x19" + b"\x00" * 6 + b"\xf0\x7f",  # +infinity
    _TOKEN + b"\x10\x01\x19" + b"\x00" * 6 + b"\xf0\xbf",  # -1.0
    _TOKEN + b"\x18\x05",  # value sent as a varint
    _TOKEN + b"\x20" + b"\xff" * 9 + b"\x01",  # timestamp 2**64 - 1
    _TOKEN + b"\x12\x05" + b"\x09" + b"\x00" * 3,  # nested reading, truncated
    b"\x0a\x04\x0a\x02\x10\x01",  # ML peak with a sample of wrong wire type
    b"\xfa\xff\xff\xff\x0f\x00",  # the largest field number, empty
    b"\x0a\x1f" + b"A" * 31,  # 31-character token
]
AWKWARD: dict[str, list[bytes]] = {
    "wire": [bytes([index]) + body for index in range(len(WIRE) + 1) for body in _AWKWARD_BODIES],
    "endpoints": [
        bytes([index]) + body for index in range(len(SENSOR_ENDPOINTS)) for body in _AWKWARD_BODIES
    ]
    + [
        bytes([3 | 0x80]) + body
        for body in (
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 1e308}]}',
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": 18446744073709551615}]}',
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": "9999-12-31T23:59:59+14:00"}]}',
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": "0001-01-01T00:00:00-14:00"}]}',
            # Text times whose UTC conversion leaves datetime's range, digit strings that int()
            # refuses (over 4300 digits, a superscript digit): found by hand, were 500s.
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": "9999-12-31T23:59:59-23:59"}]}',
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": "0001-01-01T00:00:00+23:59"}]}',
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": "\\u00b2"}]}',
            b'{"access_token": "' + TOKEN_PLACEHOLDER + b'", "readings": [{"value": 5, '
            b'"timestamp": "' + b"1" * 60 + b'"}]}',
            b'{"access_token": [], "readings": {}}',
            b"[" * 5000 + b"]" * 5000,
            b'{"readings": NaN}',
        )
    ]
    + [
        bytes([4])
        + pb.EnergyDataRequest(
            access_token=TOKEN_PLACEHOLDER.decode(), value=5.0, timestamp=text
        ).SerializeToString()
        for text in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "\u00b2", "9" * 64)
    ],
    "batch_json": [
        b"[" * 100_000,
        b'{"access_token": "x", "readings": [{"value": true}]}',
        b'{"access_token": "x", "readings": [{"value": 1, "timestamp": -1}]}',
        b'{"access_token": "x", "readings": [{"value": 1, "extra": 2}]}',
        b'{"access_token": "x", "readings": [{"value": -Infinity}]}',
        b"\xef\xbb\xbf{}",
        b'"\\ud800"',
    ],
    "timestamps": [
        b"\x00" + (10**17).to_bytes(16, "little", signed=True),
        b"\x00" + (2**127 - 1).to_bytes(16, "little", signed=True),
        b"\x00" + (-(2**127)).to_bytes(16, "little", signed=True),
        b"\x01" + b"9999-12-31T23:59:59-23:59",
        b"\x01" + b"2026-01-01T00:00:00",
        b"\x01" + "١٢٣".encode(),  # non-ASCII digits: str.isdigit() is true for them
        b"\x01" + b"0" * 5000,
        b"\x01" + "\u00b2".encode(),  # isdigit() but not int()
        b"\x01" + b"0001-01-01T00:00:00+23:59",
        b"\x02" + (2**63 - 1).to_bytes(9, "little", signed=True) * 2,
        b"\x02" + (10**14).to_bytes(9, "little", signed=True) + (10**17).to_bytes(9, "little"),
    ],
}


def inputs(harness: str, *, awkward: bool = True) -> list[Any]:
    """The awkward inputs, then every saved fuzzing input of the harness (by file name)."""
    found: list[Any] = []
    if awkward:
        found += [pytest.param(data, id=f"awkward-{n}") for n, data in enumerate(AWKWARD[harness])]
    folder = CORPUS / harness
    if folder.is_dir():
        found += [
            pytest.param(path.read_bytes(), id=path.name)
            for path in sorted(folder.iterdir())
            if path.is_file()
        ]
    return found


@pytest.mark.parametrize("data", inputs("wire"))
def test_wire_decoders(data: bytes) -> None:
    selector, body = data[0] % (len(WIRE) + 1), data[1:]
    if selector == len(WIRE):
        for _, schema in WIRE:
            with contextlib.suppress(InvalidPayload):
                scan_fields(body, 0, len(body), schema)
        return
    decode, schema = WIRE[selector]
    try:
        decode(body)
    except InvalidPayload:
        return
    scan_fields(body, 0, len(body), schema)


@pytest.mark.parametrize("data", inputs("batch_json"))
def test_batch_json_parsing(data: bytes) -> None:
    try:
        document = LimitedJSONParser().parse(io.BytesIO(data))
    except ParseError:
        return
    serializer = BatchInputSerializer(data=document)
    if not serializer.is_valid():
        return
    for reading in serializer.validated_data["readings"]:
        for name in ("value", "value_current", "value_out"):
            assert reading[name] is None or math.isfinite(reading[name]), reading


NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _timestamp(value: int | str, latest: datetime) -> datetime | None:
    moment, server_time = ingestion.timestamp_from_client(value, now=NOW)
    assert server_time is False
    if moment is not None:
        assert moment.utcoffset() == timedelta(0)
        assert ingestion.EARLIEST_READING <= moment <= latest
    return moment


@pytest.mark.parametrize("data", inputs("timestamps"))
def test_timestamp_normalisation(data: bytes, settings: Any) -> None:
    latest = NOW + timedelta(seconds=int(settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS))
    selector, rest = data[0] % 3, data[1:]
    if selector == 0:
        _timestamp(int.from_bytes(rest[:16], "little", signed=True), latest)
    elif selector == 1:
        _timestamp(rest.decode("utf-8", errors="replace"), latest)
    else:
        values = [
            int.from_bytes(rest[i : i + 9], "little", signed=True) for i in range(0, len(rest), 9)
        ]
        batch = ingestion._integer_timestamps(values, NOW)
        if batch is not None:
            assert batch == [_timestamp(value, latest) for value in values]


ANSWERS: dict[str, Any] = {
    "/api/v1/token": pb.TokenResponse,
    "/api/v1/script_accepted": pb.ScriptAcceptedResponse,
    "/api/v1/sensor_input/batch": batch_pb.SensorDataBatchResponse,
}


@pytest.fixture
def live_token(db: None) -> bytes:
    sensor_register(client_id="5C:CF:7F:12:34:56", user=UserFactory(), script="sml")
    token = sensor_token_issue(client_id="5C:CF:7F:12:34:56", need_script=False).access_token
    return token.encode()


def _post_and_check(data: bytes, token: bytes) -> str | None:
    """None when the answer follows the rules, else what is wrong."""
    path = SENSOR_ENDPOINTS[(data[0] & 0x07) % len(SENSOR_ENDPOINTS)]
    body = data[1:].replace(TOKEN_PLACEHOLDER, token)
    if data[0] & 0x80:
        content_type = "application/json"
    elif data[0] & 0x40:
        content_type = ""
    else:
        content_type = "application/x-protobuf"
    response = Client(raise_request_exception=False).generic(
        "POST", path, body, content_type=content_type
    )
    answer = body_bytes(response)
    status = response.status_code
    if status >= 500:
        return f"{path} answered {status}: {answer[:200]!r}"
    if response["Content-Type"].startswith("application/json"):
        answered = json.loads(answer)["status"]
    else:
        answered = ANSWERS.get(path, pb.SensorDataResponse).FromString(answer).status
    return None if answered == status else f"{path}: body status {answered}, HTTP {status}"


def test_sensor_endpoints_with_awkward_inputs(live_token: bytes) -> None:
    """All hand-picked inputs in one test (one database set-up instead of ~130)."""
    problems = [
        f"input {data!r:.120}: {problem}"
        for data in AWKWARD["endpoints"]
        if (problem := _post_and_check(data, live_token))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("data", inputs("endpoints", awkward=False))
def test_sensor_endpoints_with_saved_fuzzing_inputs(data: bytes, live_token: bytes) -> None:
    problem = _post_and_check(data, live_token)
    assert problem is None, problem
