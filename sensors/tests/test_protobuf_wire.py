"""Wire-level tests of `sensors.protobuf.mapping` against the reference's byte-exact vectors.

Pure tests: no Django, no database. Vectors as in docs/protocol.md, "Byte examples".
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.protobuf import wire as protobuf_wire
from sensors.protobuf.mapping import WireLimitError
from sensors.protobuf.wire import InvalidPayload
from sensors.tests.e2e.clients import varint

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123"  # 30 chars, like the reference's tokens
T = TOKEN.encode()
MAC = "AA:BB:CC:DD:EE:FF"

V2_VECTOR = (
    bytes.fromhex("0a1e")
    + T
    + bytes.fromhex("1001 19 a1f831e6d61cc840 21 0000000000d06c40 29 0000000000802440")
)
G1_VECTOR = bytes.fromhex("0a1e") + T + bytes.fromhex("1001 1d b7e64046")
PI_NS_TIMESTAMP_FIELD = bytes.fromhex("30 8080acb0a08dedf217")
PI_NS_TIMESTAMP = 1_721_980_800_000_000_000  # 2024-07-26T08:00:00Z in ns

DECODERS: list[Callable[[bytes], object]] = [
    mapping.decode_token_request,
    mapping.decode_sensor_input,
    mapping.decode_script_accepted,
    mapping.decode_energy,
    mapping.decode_gas,
    mapping.decode_water,
    mapping.decode_batch,
]


def _next_field(body: bytes, pos: int) -> tuple[int, int]:
    """Return (field number, position after the field) for the field starting at `pos`."""
    tag, pos = protobuf_wire.read_varint(body, pos, len(body))
    wire_type = tag & 7
    if wire_type == 0:
        pos = protobuf_wire.read_varint(body, pos, len(body))[1]
    elif wire_type == 2:
        length, pos = protobuf_wire.read_varint(body, pos, len(body))
        pos += length
    else:
        pos += 8 if wire_type == 1 else 4
    return tag >> 3, pos


def _tags(body: bytes) -> list[int]:
    """Field numbers of a well-formed `body` in wire order."""
    numbers = []
    pos = 0
    while pos < len(body):
        number, pos = _next_field(body, pos)
        numbers.append(number)
    return numbers


def _field_boundaries(body: bytes) -> set[int]:
    """Offsets at which a field of a well-formed `body` starts or the body ends."""
    boundaries = {0}
    pos = 0
    while pos < len(body):
        pos = _next_field(body, pos)[1]
        boundaries.add(pos)
    return boundaries


# --- response vectors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (200, None, bytes.fromhex("08c801")),
        (400, "Value too high", bytes.fromhex("0890 03 12 0e") + b"Value too high"),
        (401, "Token invalid", bytes.fromhex("0891 03 12 0d") + b"Token invalid"),
        (401, "Token not found", bytes.fromhex("0891 03 12 0f") + b"Token not found"),
        (404, "Sensor not found", bytes.fromhex("0894 03 12 10") + b"Sensor not found"),
        (500, "Database error", bytes.fromhex("08f4 03 12 0e") + b"Database error"),
    ],
)
def test_sensor_data_response_vectors(status: int, message: str | None, expected: bytes) -> None:
    assert mapping.encode_sensor_data_response(status, message) == expected
    # ScriptAcceptedResponse has the same layout.
    assert mapping.encode_script_accepted_response(status, message) == expected


def test_token_response_success_vector() -> None:
    body = mapping.encode_token_response(200, access_token=TOKEN, expires_in=3600)
    assert body == bytes.fromhex("0a1e") + T + bytes.fromhex("10901c 18c801")


def test_token_response_error_vector() -> None:
    body = mapping.encode_token_response(404, "Sensor not found")
    assert body == bytes.fromhex("189403 2210") + b"Sensor not found"


@pytest.mark.parametrize(
    ("kwargs", "numbers"),
    [
        ({"script": "=>sensor53 r"}, [1, 2, 3, 4, 5]),
        ({"analog_rotation_per_kwh": 75}, [1, 2, 3, 4, 6]),
    ],
)
def test_token_response_fields_in_ascending_order(kwargs: dict[str, object], numbers: list[int]):
    body = mapping.encode_token_response(
        200,
        "ok",
        access_token=TOKEN,
        expires_in=3600,
        **kwargs,  # type: ignore[arg-type]
    )
    assert _tags(body) == numbers
    parsed = pb.TokenResponse.FromString(body)
    assert parsed.access_token == TOKEN
    assert parsed.expires_in == 3600
    assert parsed.HasField("script") == ("script" in kwargs)
    assert parsed.HasField("analog_rotation_per_kwh") == ("analog_rotation_per_kwh" in kwargs)


def test_optional_fields_are_written_when_empty() -> None:
    assert mapping.encode_sensor_data_response(200, "") == bytes.fromhex("08c801 1200")


# --- request vectors ------------------------------------------------------------------------------


def test_tasmota_token_request() -> None:
    base = bytes.fromhex("0a11") + MAC.encode() + bytes.fromhex("1001")
    assert mapping.decode_token_request(base) == mapping.TokenRequestData(MAC, 1, False)
    forced = base + bytes.fromhex("1801")
    assert mapping.decode_token_request(forced) == mapping.TokenRequestData(MAC, 1, True)
    assert mapping.encode_token_request(mapping.TokenRequestData(MAC, 1, True)) == forced
    assert mapping.encode_token_request(mapping.TokenRequestData(MAC, 1, False)) == base


def test_pi_token_request_with_explicit_false() -> None:
    body = bytes.fromhex("0a11") + MAC.encode() + bytes.fromhex("1001 1800")
    assert mapping.decode_token_request(body) == mapping.TokenRequestData(MAC, 1, False)
    data = mapping.TokenRequestData(MAC, 1, False)
    assert mapping.encode_token_request(data, send_need_script=True) == body


def test_v2_request_vector() -> None:
    reading = mapping.decode_sensor_input(V2_VECTOR)
    assert reading == mapping.ReadingData(
        access_token=TOKEN,
        sensor_type=1,
        value=12345.6789,
        value_current=230.5,
        value_out=10.25,
        timestamp_raw=None,
        wire_format="v2",
    )
    built = pb.SensorDataRequestV2(
        access_token=TOKEN, type=pb.DIGITAL_ELECTRICITY, value=12345.6789,
        value_current=230.5, value_out=10.25,
    )  # fmt: skip
    assert built.SerializeToString() == V2_VECTOR
    assert mapping.encode_sensor_input(reading) == V2_VECTOR


def test_g1_float_request_vector_is_widened_exactly() -> None:
    reading = mapping.decode_sensor_input(G1_VECTOR)
    assert reading.wire_format == "v1_float"
    assert reading.value == 12345.6787109375
    assert reading.value == struct.unpack("<f", struct.pack("<f", 12345.6789))[0]
    assert (reading.value_current, reading.value_out, reading.timestamp_raw) == (None, None, None)
    assert (reading.access_token, reading.sensor_type) == (TOKEN, 1)
    built = pb.SensorDataRequest(access_token=TOKEN, type=pb.DIGITAL_ELECTRICITY, value=12345.6789)
    assert built.SerializeToString() == G1_VECTOR
    assert mapping.encode_sensor_input(reading) == G1_VECTOR


def test_pi_nanosecond_timestamp_vector() -> None:
    assert PI_NS_TIMESTAMP > 2**53 - 1
    reading = mapping.decode_sensor_input(V2_VECTOR + PI_NS_TIMESTAMP_FIELD)
    assert reading.timestamp_raw == PI_NS_TIMESTAMP
    assert reading.wire_format == "v2"
    built = pb.SensorDataRequestV2(timestamp=PI_NS_TIMESTAMP).SerializeToString()
    assert built == PI_NS_TIMESTAMP_FIELD


def test_zero_timestamp_counts_as_absent() -> None:
    assert mapping.decode_sensor_input(V2_VECTOR + bytes.fromhex("3000")).timestamp_raw is None


# --- V2 / float detection -------------------------------------------------------------------------


def test_float_value_not_last_is_still_the_float_message() -> None:
    body = bytes.fromhex("1d b7e64046 1001 0a1e") + T
    reading = mapping.decode_sensor_input(body)
    assert reading.wire_format == "v1_float"
    assert reading.value == 12345.6787109375


def test_float_message_ignores_v2_only_fields() -> None:
    reading = mapping.decode_sensor_input(G1_VECTOR + bytes.fromhex("21 0000000000d06c40 3001"))
    assert reading.wire_format == "v1_float"
    assert (reading.value_current, reading.value_out, reading.timestamp_raw) == (None, None, None)


def test_value_as_float_and_double_is_rejected() -> None:
    with pytest.raises(InvalidPayload):
        mapping.decode_sensor_input(V2_VECTOR + bytes.fromhex("1d b7e64046"))


def test_missing_value_is_v2_zero() -> None:
    reading = mapping.decode_sensor_input(bytes.fromhex("0a1e") + T)
    assert (reading.value, reading.wire_format) == (0.0, "v2")


@pytest.mark.parametrize(
    "field",
    [
        "0801",  # access_token as varint
        "11 0000000000000000",  # type as fixed64
        "1801",  # value as varint
        "1a01 00",  # value as length-delimited
        "25 00000000",  # value_current as fixed32
        "2d 00000000",  # value_out as fixed32
        "31 0000000000000000",  # timestamp as fixed64
    ],
)
def test_known_field_with_wrong_wire_type_is_rejected(field: str) -> None:
    with pytest.raises(InvalidPayload):
        mapping.decode_sensor_input(V2_VECTOR + bytes.fromhex(field))


def test_unknown_fields_are_skipped() -> None:
    unknown = bytes.fromhex("7801 8101 0000000000000000 8a01 03616263 9501 00000000")
    assert mapping.decode_sensor_input(unknown + V2_VECTOR) == mapping.decode_sensor_input(
        V2_VECTOR
    )
    assert mapping.decode_sensor_input(G1_VECTOR + unknown).value == 12345.6787109375
    # Field 3 is unused in EnergyDataRequest: any wire type is skipped there.
    assert mapping.decode_energy(bytes.fromhex("1801 1d00000000")).value == 0.0


def test_non_finite_values_pass_through() -> None:
    body = bytes.fromhex("19") + struct.pack("<d", math.nan) + bytes.fromhex("21")
    body += struct.pack("<d", -math.inf)
    reading = mapping.decode_sensor_input(body)
    assert math.isnan(reading.value)
    assert reading.value_current == -math.inf
    float_inf = mapping.decode_sensor_input(bytes.fromhex("1d") + struct.pack("<f", math.inf))
    assert float_inf.value == math.inf


def test_other_decoders_reject_wrong_wire_types() -> None:
    with pytest.raises(InvalidPayload):
        mapping.decode_token_request(bytes.fromhex("1d 00000000"))
    with pytest.raises(InvalidPayload):
        mapping.decode_gas(bytes.fromhex("15 0000803f"))  # G3 value as float
    reading = bytes.fromhex("0d 0000803f")  # BatchReading.value as float
    with pytest.raises(InvalidPayload):
        mapping.decode_batch(bytes.fromhex("1a05") + reading)


# --- malformed bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [V2_VECTOR + PI_NS_TIMESTAMP_FIELD, G1_VECTOR])
def test_truncated_bodies_are_rejected(vector: bytes) -> None:
    boundaries = _field_boundaries(vector)
    for cut in range(1, len(vector)):
        prefix = vector[:cut]
        if cut in boundaries:
            mapping.decode_sensor_input(prefix)
        else:
            with pytest.raises(InvalidPayload):
                mapping.decode_sensor_input(prefix)


@pytest.mark.parametrize(
    "body",
    [
        "0b 0c",  # group (wire types 3/4)
        "0c",  # end group
        "0e 00",  # wire type 6
        "0f 00",  # wire type 7
        "00 00",  # field number 0
        "02 00",  # field number 0, length-delimited
        "08 ffffffffffffffffff7f",  # varint of 10 bytes above 2**64 - 1
        "08 ffffffffffffffffffff01",  # varint of 11 bytes
        "80808080 10 00",  # tag above 2**32 - 1
        "0a 02 ff fe",  # access_token not UTF-8
        "0a 80808080 10",  # length far beyond the body
        "ff",  # truncated tag
    ],
)
def test_garbage_is_rejected(body: str) -> None:
    for decode in (mapping.decode_sensor_input, mapping.decode_token_request):
        with pytest.raises(InvalidPayload):
            decode(bytes.fromhex(body))


def test_empty_body_is_an_all_default_message() -> None:
    assert mapping.decode_token_request(b"") == mapping.TokenRequestData("", 0, False)
    assert mapping.decode_sensor_input(b"") == mapping.ReadingData(
        "", 0, 0.0, None, None, None, "v2"
    )
    assert mapping.decode_script_accepted(b"") == mapping.ScriptAcceptedData("")
    assert mapping.decode_energy(b"") == mapping.EnergyReadingData("", 0.0, None, None, None)
    assert mapping.decode_gas(b"") == mapping.GasReadingData("", 0.0, None)
    assert mapping.decode_water(b"") == mapping.WaterReadingData("", 0.0, None)
    assert mapping.decode_batch(b"") == mapping.BatchData("", 0, ())


def test_decoders_accept_bytearray_and_memoryview() -> None:
    expected = mapping.decode_sensor_input(V2_VECTOR)
    assert mapping.decode_sensor_input(bytearray(V2_VECTOR)) == expected
    assert mapping.decode_sensor_input(memoryview(V2_VECTOR)) == expected


# --- G3 and batch --------------------------------------------------------------------------------


def test_g3_messages() -> None:
    energy = pb.EnergyDataRequest(access_token=TOKEN, value=1.5, value_out=2.0, timestamp="")
    assert mapping.decode_energy(energy.SerializeToString()) == mapping.EnergyReadingData(
        TOKEN, 1.5, None, 2.0, ""
    )
    gas = pb.GasDataRequest(access_token=TOKEN, value=3.25, value_current=0.0)
    assert mapping.decode_gas(gas.SerializeToString()) == mapping.GasReadingData(TOKEN, 3.25, 0.0)
    water = pb.WaterDataRequest(access_token=TOKEN, value=7.0)
    assert mapping.decode_water(water.SerializeToString()) == mapping.WaterReadingData(
        TOKEN, 7.0, None
    )


def test_batch_round_trip_and_slow_path_agree() -> None:
    request = batch_pb.SensorDataBatchRequest(
        access_token=TOKEN,
        type=pb.DIGITAL_ELECTRICITY,
        readings=[
            batch_pb.BatchReading(value=1.0, timestamp=1_721_980_800),
            batch_pb.BatchReading(value=2.0, value_current=300.0, timestamp=1_721_980_800_123),
            batch_pb.BatchReading(value=3.0, value_out=0.5),
        ],
    )
    body = request.SerializeToString()
    data = mapping.decode_batch(body)
    assert data == mapping.BatchData(
        TOKEN,
        1,
        (
            mapping.BatchReadingData(1.0, None, None, 1_721_980_800),
            mapping.BatchReadingData(2.0, 300.0, None, 1_721_980_800_123),
            mapping.BatchReadingData(3.0, None, 0.5, None),
        ),
    )
    assert mapping.encode_batch(data) == body
    # An unknown trailing field forces the scanning path; the result must not change.
    assert mapping.decode_batch(body + bytes.fromhex("f80701")) == data


def test_batch_response() -> None:
    body = mapping.encode_batch_response(
        207,
        "partly stored",
        accepted=2,
        duplicates=1,
        rejected=1,
        results=[mapping.BatchItemResultData(3, 400, "Timestamp out of range")],
    )
    parsed = batch_pb.SensorDataBatchResponse.FromString(body)
    assert (parsed.status, parsed.status_message) == (207, "partly stored")
    assert (parsed.accepted, parsed.duplicates, parsed.rejected) == (2, 1, 1)
    assert [(r.index, r.status, r.status_message) for r in parsed.results] == [
        (3, 400, "Timestamp out of range")
    ]
    assert _tags(body) == [1, 2, 3, 4, 5, 6]


def test_batch_reuses_the_sensor_type_enum() -> None:
    field = batch_pb.SensorDataBatchRequest.DESCRIPTOR.fields_by_name["type"]
    assert field.enum_type is pb.SensorType.DESCRIPTOR


# --- nanopb limits --------------------------------------------------------------------------------


def test_status_message_is_cut_on_a_character_boundary() -> None:
    message = "a" + "ä" * 200  # 401 bytes
    fitted = mapping.fit_status_message(message)
    assert len(fitted.encode()) <= mapping.MAX_STATUS_MESSAGE_BYTES
    assert message.startswith(fitted)
    assert len(fitted.encode()) == 253  # 'a' + 126 two-byte chars; byte 254 would split an 'ä'
    parsed = pb.SensorDataResponse.FromString(mapping.encode_sensor_data_response(400, message))
    assert parsed.status_message == fitted
    assert mapping.fit_status_message("Invalid data") == "Invalid data"


def test_wire_limits() -> None:
    with pytest.raises(WireLimitError):
        mapping.encode_token_response(200, access_token="x" * 45)
    with pytest.raises(WireLimitError):
        mapping.encode_token_response(200, expires_in=65536)
    with pytest.raises(WireLimitError):
        mapping.encode_token_response(200, script="ü" * 333)  # 666 bytes
    with pytest.raises(WireLimitError):
        mapping.encode_sensor_data_response(2**32)
    with pytest.raises(ValueError, match="either"):
        mapping.encode_token_response(200, script="x", analog_rotation_per_kwh=75)
    assert mapping.script_fits("ü" * 332 + "x")  # 665 bytes
    mapping.encode_token_response(200, access_token="x" * 44, expires_in=65535, script="x" * 665)


# --- properties -----------------------------------------------------------------------------------

_FIELD = st.one_of(
    st.tuples(st.integers(1, 8), st.just(0), st.integers(0, 2**64 - 1)),
    st.tuples(st.integers(1, 8), st.just(1), st.binary(min_size=8, max_size=8)),
    st.tuples(st.integers(1, 8), st.just(2), st.binary(max_size=40)),
    st.tuples(st.integers(1, 8), st.just(5), st.binary(min_size=4, max_size=4)),
)


def _encode_fields(fields: list[tuple[int, int, object]]) -> bytes:
    out = bytearray()
    for number, wire_type, payload in fields:
        out += varint(number << 3 | wire_type)
        if wire_type == 0:
            assert isinstance(payload, int)
            out += varint(payload)
        elif wire_type == 2:
            assert isinstance(payload, bytes)
            out += varint(len(payload)) + payload
        else:
            assert isinstance(payload, bytes)
            out += payload
    return bytes(out)


# Random bodies: bytes, well-formed fields of every wire type, messages nested in fields (also
# used by the ML messages' tests, analytics/tests/test_ml_protobuf.py).
PROTOBUF_BODIES = st.one_of(
    st.binary(max_size=4096),
    st.lists(_FIELD, max_size=30).map(_encode_fields),
    st.lists(_FIELD, max_size=10)
    .map(_encode_fields)
    .flatmap(
        lambda inner: st.lists(
            st.tuples(st.integers(1, 4), st.just(2), st.just(inner)), max_size=5
        ).map(_encode_fields)
    ),
)


@pytest.mark.parametrize("decode", DECODERS, ids=lambda decode: decode.__name__)
@settings(max_examples=300, deadline=None)
@given(body=PROTOBUF_BODIES)
def test_decoders_return_data_or_raise_invalid_payload(
    decode: Callable[[bytes], object], body: bytes
) -> None:
    try:
        result = decode(body)
    except InvalidPayload:
        return
    assert result is not None


@pytest.mark.parametrize(
    ("decode", "schema"),
    [
        (mapping.decode_token_request, mapping._TOKEN_REQUEST),
        (mapping.decode_script_accepted, mapping._SCRIPT_ACCEPTED),
        (mapping.decode_energy, mapping._ENERGY),
        (mapping.decode_gas, mapping._GAS_OR_WATER),
        (mapping.decode_batch, mapping._BATCH),
    ],
    ids=lambda value: getattr(value, "__name__", "schema"),
)
@settings(max_examples=200, deadline=None)
@given(body=PROTOBUF_BODIES)
def test_fast_path_never_accepts_what_the_scanner_rejects(
    decode: Callable[[bytes], object], schema: object, body: bytes
) -> None:
    try:
        decode(body)
    except InvalidPayload:
        return
    protobuf_wire.scan_fields(body, 0, len(body), schema)  # type: ignore[arg-type]  # must not raise


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(allow_nan=False),
    value_current=st.none() | st.floats(allow_nan=False),
    value_out=st.none() | st.floats(allow_nan=False),
    timestamp_raw=st.none() | st.integers(1, 2**64 - 1),
    sensor_type=st.integers(0, 3),
)
def test_v2_round_trip(
    value: float,
    value_current: float | None,
    value_out: float | None,
    timestamp_raw: int | None,
    sensor_type: int,
) -> None:
    reading = mapping.ReadingData(
        TOKEN, sensor_type, value, value_current, value_out, timestamp_raw, "v2"
    )
    assert mapping.decode_sensor_input(mapping.encode_sensor_input(reading)) == reading


# --- generated code -------------------------------------------------------------------------------


def test_generated_code_is_up_to_date() -> None:
    pytest.importorskip("grpc_tools")
    repo_root = Path(mapping.__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-m", "sensors.protobuf.generate", "--check"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
