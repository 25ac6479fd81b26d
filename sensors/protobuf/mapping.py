"""Conversion between Energyleaf protobuf messages and plain, typed Python values.

This module is the only place that touches the generated `*_pb2` classes. Decoders take a raw
body (a request; for clients such as the simulated sensors, an answer) and return frozen
dataclasses; encoders take plain values and return the serialized
body. Services and every other app work with these dataclasses only.

Decoding contract (all `decode_*` functions):

* Any body that cannot be decoded raises `InvalidPayload` (a `ValueError`) and nothing else:
  truncated fields, wire types 3/4 (groups) or 6/7, field number 0, varints longer than 10 bytes
  or above 2**64 - 1, tags above 2**32 - 1, strings that are not UTF-8, and a *known* field that
  arrived with a wire type its declaration does not allow.
* Unknown field numbers are skipped, as the reference (protobuf-ts) does.
* A field missing from the wire has its proto3 default (`""`, `0`, `False`); an empty body is
  therefore a valid all-default message. `optional` fields that are absent map to `None`.
* If a field occurs more than once, the last occurrence wins (standard protobuf merging).
* Values are passed through unvalidated: NaN, infinities, negative values, unknown sensor types
  and absurd timestamps all reach the caller unchanged. Range and plausibility checks are the
  services' job.

Why there is a wire scanner: the reference decodes `/sensor_input` bodies by trying
`SensorDataRequestV2` and, when that throws, the G1 `SensorDataRequest` whose `value` is a 32-bit
float. protobuf-ts ignores wire types, so reading a G1 float (fixed32, last in the message) as a
double overruns the buffer and throws. The Python runtime instead stores a field that has an
unexpected wire type as an unknown field and "succeeds" with `value == 0`. The wire scanner
(`sensors.protobuf.wire.scan_fields`, shared with the ML messages) therefore walks
the top-level tags (and those of known nested messages) and tells which wire type each known field
arrived with; `decode_sensor_input` picks the message from that, and every other decoder rejects a
known field with a wrong wire type instead of silently reading a default.

Encoding contract (all `encode_*` functions): the result is the canonical serialization by the
official runtime, fields in ascending field-number order, proto3 defaults of non-`optional` fields
omitted, `optional` fields written whenever they are not `None` (even when empty or zero). Status
messages are cut to the nanopb limit (`fit_status_message`); other values that would not fit the
devices' nanopb buffers raise `WireLimitError` rather than being altered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

import numpy as np
from google.protobuf.message import Message

from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf.wire import (
    I32,
    I64,
    LEN,
    R_I64,
    R_LEN,
    R_VARINT,
    Rule,
    Schema,
    as_bytes,
    decode_checked,
    parse_into,
    scan_fields,
    serialize,
)
from sensors.protobuf.wire import InvalidPayload as InvalidPayload  # raised by every decoder

# --- nanopb limits of the devices (docs/protocol.md, "Device limits"; buffers include the NUL) -

MAX_CLIENT_ID_BYTES: Final = 127
"""TokenRequest.client_id as a device can send it (nanopb buffer 128)."""
MAX_ACCESS_TOKEN_CHARS: Final = 44
"""Access token length a device can store (nanopb buffer 45; tokens are ASCII)."""
MAX_SCRIPT_BYTES: Final = 665
"""TokenResponse.script in UTF-8 bytes (nanopb buffer 666)."""
MAX_STATUS_MESSAGE_BYTES: Final = 254
"""status_message of every response in UTF-8 bytes (nanopb buffer 255)."""
MAX_EXPIRES_IN: Final = 65535
"""TokenResponse.expires_in; Tasmota keeps it in a uint16."""
MAX_UINT32: Final = 2**32 - 1


class WireLimitError(ValueError):
    """A value does not fit the devices' nanopb limits (or the protobuf field type)."""


# --- plain data ----------------------------------------------------------------------------------

WireFormat = Literal["v2", "v1_float"]
"""Which sensor-data message a reading arrived as: SensorDataRequestV2 or G1 SensorDataRequest."""


@dataclass(frozen=True, slots=True)
class TokenRequestData:
    """A TokenRequest. `sensor_type` is the raw enum number (may be outside 0..3)."""

    client_id: str
    sensor_type: int
    need_script: bool


@dataclass(frozen=True, slots=True)
class ReadingData:
    """One `/sensor_input` reading, from SensorDataRequestV2 or the G1 float SensorDataRequest.

    `value` is kWh (analog: kWh since the previous reading), `value_current` W, `value_out` kWh.
    `timestamp_raw` is the uint64 as sent (unit unknown; 0 is mapped to `None`). For
    `wire_format == "v1_float"`, `value` is the float32 widened exactly to a Python float and the
    three optional fields are always `None`.
    """

    access_token: str
    sensor_type: int
    value: float
    value_current: float | None
    value_out: float | None
    timestamp_raw: int | None
    wire_format: WireFormat


@dataclass(frozen=True, slots=True)
class ScriptAcceptedData:
    """A ScriptAcceptedRequest."""

    access_token: str


@dataclass(frozen=True, slots=True)
class TokenResponseData:
    """A TokenResponse as a client reads it; absent `optional` fields are None."""

    status: int
    status_message: str | None
    access_token: str | None
    expires_in: int | None
    script: str | None
    analog_rotation_per_kwh: int | None


@dataclass(frozen=True, slots=True)
class StatusResponseData:
    """A SensorDataResponse or ScriptAcceptedResponse (same fields); status 0 = empty body."""

    status: int
    status_message: str | None


@dataclass(frozen=True, slots=True)
class BatchResponseData:
    """A SensorDataBatchResponse as a client reads it."""

    status: int
    status_message: str | None
    accepted: int
    duplicates: int
    rejected: int
    results: tuple[BatchItemResultData, ...]


@dataclass(frozen=True, slots=True)
class EnergyReadingData:
    """A G3 EnergyDataRequest; `timestamp` is the text as sent (`None` when absent)."""

    access_token: str
    value: float
    value_current: float | None
    value_out: float | None
    timestamp: str | None


@dataclass(frozen=True, slots=True)
class GasReadingData:
    """A G3 GasDataRequest."""

    access_token: str
    value: float
    value_current: float | None


@dataclass(frozen=True, slots=True)
class WaterReadingData:
    """A G3 WaterDataRequest."""

    access_token: str
    value: float
    value_current: float | None


@dataclass(frozen=True, slots=True)
class BatchReadingData:
    """One BatchReading; `timestamp_raw` is s/ms/us/ns as sent, 0 mapped to `None`."""

    value: float
    value_current: float | None
    value_out: float | None
    timestamp_raw: int | None


@dataclass(frozen=True, slots=True)
class BatchData:
    """A SensorDataBatchRequest, readings in request order."""

    access_token: str
    sensor_type: int
    readings: tuple[BatchReadingData, ...]


@dataclass(frozen=True, slots=True)
class BatchColumnsData:
    """A SensorDataBatchRequest as columns, one entry per reading in request order: `value`,
    `value_current` and `value_out` float64 (0.0 where `has_current`/`has_out` is False),
    `timestamp` uint64 as sent (0: absent)."""

    access_token: str
    sensor_type: int
    value: np.ndarray
    value_current: np.ndarray
    has_current: np.ndarray
    value_out: np.ndarray
    has_out: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return len(self.value)

    def readings(self) -> tuple[BatchReadingData, ...]:
        """The readings as `decode_batch` gives them."""
        return tuple(
            BatchReadingData(
                value, current if has_current else None, out if has_out else None, stamp or None
            )
            for value, current, has_current, out, has_out, stamp in zip(
                self.value.tolist(),
                self.value_current.tolist(),
                self.has_current.tolist(),
                self.value_out.tolist(),
                self.has_out.tolist(),
                self.timestamp.tolist(),
                strict=True,
            )
        )


@dataclass(frozen=True, slots=True)
class BatchItemResultData:
    """Outcome for the reading at `index` of a batch."""

    index: int
    status: int
    status_message: str | None = None


def _nonzero(value: int) -> int | None:
    """Map an uint64 timestamp of 0 ("not set" for proto3 non-optional fields) to None."""
    return value or None


# --- schemas (field number -> allowed wire types) -----------------------------------------------

_TOKEN_REQUEST: Final[Schema] = {1: R_LEN, 2: R_VARINT, 3: R_VARINT}
_SENSOR_INPUT: Final[Schema] = {
    1: R_LEN,
    2: R_VARINT,
    3: Rule(frozenset({I32, I64})),  # float (G1) or double (V2), see decode_sensor_input
    4: R_I64,
    5: R_I64,
    6: R_VARINT,
}
_SCRIPT_ACCEPTED: Final[Schema] = {1: R_LEN}
_TOKEN_RESPONSE: Final[Schema] = {
    1: R_LEN,
    2: R_VARINT,
    3: R_VARINT,
    4: R_LEN,
    5: R_LEN,
    6: R_VARINT,
}
_STATUS_RESPONSE: Final[Schema] = {1: R_VARINT, 2: R_LEN}
_BATCH_RESPONSE: Final[Schema] = {
    1: R_VARINT,
    2: R_LEN,
    3: R_VARINT,
    4: R_VARINT,
    5: R_VARINT,
    6: Rule(frozenset({LEN}), {1: R_VARINT, 2: R_VARINT, 3: R_LEN}),
}
_ENERGY: Final[Schema] = {1: R_LEN, 2: R_I64, 4: R_I64, 5: R_I64, 6: R_LEN}
_GAS_OR_WATER: Final[Schema] = {1: R_LEN, 2: R_I64, 3: R_I64}
_BATCH_READING: Final[Schema] = {1: R_I64, 2: R_I64, 3: R_I64, 4: R_VARINT}
_BATCH: Final[Schema] = {
    1: R_LEN,
    2: R_VARINT,
    3: Rule(frozenset({LEN}), _BATCH_READING),
}


# --- decoders ------------------------------------------------------------------------------------


def decode_token_request(body: bytes | bytearray | memoryview) -> TokenRequestData:
    """Decode a TokenRequest body (`/api/v1/token`). An absent `need_script` reads as False."""
    message = pb.TokenRequest()
    decode_checked(message, body, _TOKEN_REQUEST)
    return TokenRequestData(
        client_id=message.client_id,
        sensor_type=int(message.type),
        need_script=message.need_script,
    )


def decode_sensor_input(body: bytes | bytearray | memoryview) -> ReadingData:
    """Decode a `/api/v1/sensor_input` body as SensorDataRequestV2 or G1 SensorDataRequest.

    Detection by the wire type of field 3 (`value`): fixed64 → V2 (double); fixed32 → the G1
    float message, whose value is widened exactly from float32 and whose optional fields are
    `None` (like the reference's fallback, fields 4-6 are ignored for it); both wire types in one
    body → InvalidPayload; field 3 absent → V2 with `value == 0.0` (so an empty body decodes, as
    in the reference). A `timestamp` of 0 is `None`.
    """
    data = as_bytes(body)
    seen = scan_fields(data, 0, len(data), _SENSOR_INPUT)
    value_wire_types = seen.get(3, 0)
    if value_wire_types == (1 << I32) | (1 << I64):
        raise InvalidPayload("field 3 arrived both as float and as double")
    if value_wire_types == 1 << I32:
        v1 = pb.SensorDataRequest()
        parse_into(v1, data)
        return ReadingData(
            access_token=v1.access_token,
            sensor_type=int(v1.type),
            value=v1.value,
            value_current=None,
            value_out=None,
            timestamp_raw=None,
            wire_format="v1_float",
        )
    v2 = pb.SensorDataRequestV2()
    parse_into(v2, data)
    return ReadingData(
        access_token=v2.access_token,
        sensor_type=int(v2.type),
        value=v2.value,
        value_current=v2.value_current if v2.HasField("value_current") else None,
        value_out=v2.value_out if v2.HasField("value_out") else None,
        timestamp_raw=_nonzero(v2.timestamp),
        wire_format="v2",
    )


def decode_script_accepted(body: bytes | bytearray | memoryview) -> ScriptAcceptedData:
    """Decode a ScriptAcceptedRequest body (`/api/v1/script_accepted`)."""
    message = pb.ScriptAcceptedRequest()
    decode_checked(message, body, _SCRIPT_ACCEPTED)
    return ScriptAcceptedData(access_token=message.access_token)


def _optional_text(message: Message, name: str) -> str | None:
    return str(getattr(message, name)) if message.HasField(name) else None


def _optional_uint(message: Message, name: str) -> int | None:
    return int(getattr(message, name)) if message.HasField(name) else None


def decode_token_response(body: bytes | bytearray | memoryview) -> TokenResponseData:
    """Decode a TokenResponse body (the answer of `/api/v1/token`)."""
    message = pb.TokenResponse()
    decode_checked(message, body, _TOKEN_RESPONSE)
    return TokenResponseData(
        status=message.status,
        status_message=_optional_text(message, "status_message"),
        access_token=_optional_text(message, "access_token"),
        expires_in=_optional_uint(message, "expires_in"),
        script=_optional_text(message, "script"),
        analog_rotation_per_kwh=_optional_uint(message, "analog_rotation_per_kwh"),
    )


def decode_status_response(body: bytes | bytearray | memoryview) -> StatusResponseData:
    """Decode a SensorDataResponse or ScriptAcceptedResponse body (same fields)."""
    message = pb.SensorDataResponse()
    decode_checked(message, body, _STATUS_RESPONSE)
    return StatusResponseData(message.status, _optional_text(message, "status_message"))


def decode_batch_response(body: bytes | bytearray | memoryview) -> BatchResponseData:
    """Decode a SensorDataBatchResponse body (the answer of `/api/v1/sensor_input/batch`)."""
    message = batch_pb.SensorDataBatchResponse()
    decode_checked(message, body, _BATCH_RESPONSE)
    return BatchResponseData(
        status=message.status,
        status_message=_optional_text(message, "status_message"),
        accepted=message.accepted,
        duplicates=message.duplicates,
        rejected=message.rejected,
        results=tuple(
            BatchItemResultData(
                index=item.index,
                status=item.status,
                status_message=_optional_text(item, "status_message"),
            )
            for item in message.results
        ),
    )


def decode_energy(body: bytes | bytearray | memoryview) -> EnergyReadingData:
    """Decode a G3 EnergyDataRequest. A present but empty `timestamp` stays `""`."""
    message = pb.EnergyDataRequest()
    decode_checked(message, body, _ENERGY)
    return EnergyReadingData(
        access_token=message.access_token,
        value=message.value,
        value_current=message.value_current if message.HasField("value_current") else None,
        value_out=message.value_out if message.HasField("value_out") else None,
        timestamp=message.timestamp if message.HasField("timestamp") else None,
    )


def decode_gas(body: bytes | bytearray | memoryview) -> GasReadingData:
    """Decode a G3 GasDataRequest."""
    message = pb.GasDataRequest()
    decode_checked(message, body, _GAS_OR_WATER)
    return GasReadingData(
        access_token=message.access_token,
        value=message.value,
        value_current=message.value_current if message.HasField("value_current") else None,
    )


def decode_water(body: bytes | bytearray | memoryview) -> WaterReadingData:
    """Decode a G3 WaterDataRequest."""
    message = pb.WaterDataRequest()
    decode_checked(message, body, _GAS_OR_WATER)
    return WaterReadingData(
        access_token=message.access_token,
        value=message.value,
        value_current=message.value_current if message.HasField("value_current") else None,
    )


def decode_batch(body: bytes | bytearray | memoryview) -> BatchData:
    """Decode a SensorDataBatchRequest (this project's batch upload); readings keep their order."""
    message = batch_pb.SensorDataBatchRequest()
    decode_checked(message, body, _BATCH)
    # One list comprehension with positional arguments: this runs for every reading of a batch.
    make = BatchReadingData
    readings = tuple(
        [
            make(
                reading.value,
                reading.value_current if reading.HasField("value_current") else None,
                reading.value_out if reading.HasField("value_out") else None,
                reading.timestamp or None,  # as _nonzero
            )
            for reading in message.readings
        ]
    )
    return BatchData(
        access_token=message.access_token,
        sensor_type=int(message.type),
        readings=readings,
    )


# BatchReading field tags (field << 3 | wire type) and the column each fills.
_READING_TAGS: Final = {0x09: "value", 0x11: "value_current", 0x19: "value_out", 0x20: "timestamp"}


def _uniform_readings(
    data: bytes, message: batch_pb.SensorDataBatchRequest, count: int
) -> dict[str, np.ndarray] | None:
    """The readings' columns read straight from the body with numpy when every reading has the
    same layout (same fields, same timestamp varint length) and the readings follow the token
    and type as one block, as an official runtime writes them; None otherwise."""
    header = batch_pb.SensorDataBatchRequest(access_token=message.access_token, type=message.type)
    head = header.SerializeToString(deterministic=True)
    if count == 0 or not data.startswith(head) or len(data) - len(head) < 2:
        return None
    length = data[len(head) + 1]
    size = length + 2
    if length >= 0x80 or (len(data) - len(head)) != count * size:
        return None
    rows = np.frombuffer(data, dtype=np.uint8, offset=len(head)).reshape(count, size)
    if not (bool((rows[:, 0] == 0x1A).all()) and bool((rows[:, 1] == length).all())):
        return None
    # The first reading's layout: a tag, then a fixed64 or (last) a varint up to the end.
    layout: list[tuple[int, int]] = []  # (tag position, tag)
    position = 2
    while position < size:
        tag = int(rows[0, position])
        if tag not in _READING_TAGS or (layout and tag <= layout[-1][1]):
            return None
        layout.append((position, tag))
        position = size if tag == 0x20 else position + 9
    if position != size:
        return None
    columns: dict[str, np.ndarray] = {}
    for position, tag in layout:
        if not bool((rows[:, position] == tag).all()):
            return None
        if tag == 0x20:
            varint = rows[:, position + 1 : size].astype(np.uint64)
            width = varint.shape[1]
            if width == 0 or bool((varint[:, -1] >= 0x80).any()):
                return None
            if width > 1 and not bool((varint[:, :-1] >= 0x80).all()):
                return None
            shifts = (7 * np.arange(width)).astype(np.uint64)
            columns["timestamp"] = ((varint & np.uint64(0x7F)) << shifts).sum(
                axis=1, dtype=np.uint64
            )
        else:
            raw = np.ascontiguousarray(rows[:, position + 1 : position + 9])
            columns[_READING_TAGS[tag]] = raw.view("<f8").reshape(count)
    first, last = message.readings[0], message.readings[count - 1]
    for index, reading in ((0, first), (count - 1, last)):  # the runtime's own reading agrees
        expected = (
            reading.value,
            reading.value_current if reading.HasField("value_current") else None,
            reading.value_out if reading.HasField("value_out") else None,
            reading.timestamp,
        )
        got = (
            float(columns["value"][index]) if "value" in columns else 0.0,
            float(columns["value_current"][index]) if "value_current" in columns else None,
            float(columns["value_out"][index]) if "value_out" in columns else None,
            int(columns["timestamp"][index]) if "timestamp" in columns else 0,
        )
        if repr(got) != repr(expected):
            return None
    return columns


def decode_batch_columns(body: bytes | bytearray | memoryview) -> BatchColumnsData:
    """Decode a SensorDataBatchRequest into columns (`BatchColumnsData`), same contract and same
    values as `decode_batch`. Readings that all have one layout (the usual case: a client
    writes the same fields for every reading) are read with numpy, without a Python object per
    reading; anything else is read from the runtime's message one by one."""
    data = as_bytes(body)
    message = batch_pb.SensorDataBatchRequest()
    decode_checked(message, data, _BATCH)
    count = len(message.readings)
    uniform = _uniform_readings(data, message, count)
    if uniform is not None:
        zeros = np.zeros(count, dtype=np.float64)
        return BatchColumnsData(
            access_token=message.access_token,
            sensor_type=int(message.type),
            value=uniform.get("value", zeros),
            value_current=uniform.get("value_current", zeros),
            has_current=np.full(count, "value_current" in uniform, dtype=bool),
            value_out=uniform.get("value_out", zeros),
            has_out=np.full(count, "value_out" in uniform, dtype=bool),
            timestamp=uniform.get("timestamp", np.zeros(count, dtype=np.uint64)),
        )
    readings = message.readings
    has_current = np.fromiter(
        (r.HasField("value_current") for r in readings), dtype=bool, count=count
    )
    has_out = np.fromiter((r.HasField("value_out") for r in readings), dtype=bool, count=count)
    return BatchColumnsData(
        access_token=message.access_token,
        sensor_type=int(message.type),
        value=np.fromiter((r.value for r in readings), dtype=np.float64, count=count),
        value_current=np.fromiter(
            (r.value_current for r in readings), dtype=np.float64, count=count
        ),
        has_current=has_current,
        value_out=np.fromiter((r.value_out for r in readings), dtype=np.float64, count=count),
        has_out=has_out,
        timestamp=np.fromiter((r.timestamp for r in readings), dtype=np.uint64, count=count),
    )


# --- limits --------------------------------------------------------------------------------------


def fit_utf8(text: str, max_bytes: int) -> str:
    """Return `text` cut to at most `max_bytes` UTF-8 bytes without splitting a character.

    Characters that cannot be encoded (lone surrogates) are replaced by `?`.
    """
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= max_bytes:
        return encoded.decode("utf-8")
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def fit_status_message(message: str) -> str:
    """Return `message` cut to MAX_STATUS_MESSAGE_BYTES UTF-8 bytes (the devices' nanopb limit)."""
    return fit_utf8(message, MAX_STATUS_MESSAGE_BYTES)


def script_fits(script: str) -> bool:
    """Tell whether `script` fits a device's script buffer (MAX_SCRIPT_BYTES in UTF-8)."""
    return len(script.encode("utf-8", errors="replace")) <= MAX_SCRIPT_BYTES


def _uint32(name: str, value: int, maximum: int = MAX_UINT32) -> int:
    """Return `value` if it is an int in 0..maximum, else raise WireLimitError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise WireLimitError(f"{name} must be an integer in 0..{maximum}, got {value!r}")
    return value


def _optional_message(message: str | None) -> str | None:
    """Apply fit_status_message unless the message is absent."""
    return None if message is None else fit_status_message(message)


def _sensor_type(number: int) -> pb.SensorType.ValueType:
    """Wrap a raw enum number (proto3 enums are open, so any int32 is allowed)."""
    return pb.SensorType.ValueType(number)


# --- encoders: responses -------------------------------------------------------------------------


def encode_token_response(
    status: int,
    message: str | None = None,
    *,
    access_token: str | None = None,
    expires_in: int | None = None,
    script: str | None = None,
    analog_rotation_per_kwh: int | None = None,
) -> bytes:
    """Encode a TokenResponse.

    `message` is cut to the nanopb limit. Raises WireLimitError if `access_token` is longer
    than MAX_ACCESS_TOKEN_CHARS (or not ASCII), `script` exceeds MAX_SCRIPT_BYTES, `expires_in`
    is outside 0..MAX_EXPIRES_IN or `status`/`analog_rotation_per_kwh` outside uint32, and
    ValueError if both `script` and `analog_rotation_per_kwh` are given (the reference sends one
    or the other).
    """
    if script is not None and analog_rotation_per_kwh is not None:
        raise ValueError("send either script or analog_rotation_per_kwh, not both")
    if access_token is not None and (
        len(access_token) > MAX_ACCESS_TOKEN_CHARS or not access_token.isascii()
    ):
        raise WireLimitError(f"access_token exceeds {MAX_ACCESS_TOKEN_CHARS} ASCII characters")
    if script is not None and not script_fits(script):
        raise WireLimitError(f"script exceeds {MAX_SCRIPT_BYTES} UTF-8 bytes")
    response = pb.TokenResponse(
        status=_uint32("status", status),
        status_message=_optional_message(message),
        access_token=access_token,
        expires_in=(
            None if expires_in is None else _uint32("expires_in", expires_in, MAX_EXPIRES_IN)
        ),
        script=script,
        analog_rotation_per_kwh=(
            None
            if analog_rotation_per_kwh is None
            else _uint32("analog_rotation_per_kwh", analog_rotation_per_kwh)
        ),
    )
    return serialize(response)


def encode_sensor_data_response(status: int, message: str | None = None) -> bytes:
    """Encode a SensorDataResponse; `message` is cut to the nanopb limit."""
    response = pb.SensorDataResponse(
        status=_uint32("status", status), status_message=_optional_message(message)
    )
    return serialize(response)


def encode_script_accepted_response(status: int, message: str | None = None) -> bytes:
    """Encode a ScriptAcceptedResponse; `message` is cut to the nanopb limit."""
    response = pb.ScriptAcceptedResponse(
        status=_uint32("status", status), status_message=_optional_message(message)
    )
    return serialize(response)


def encode_batch_response(
    status: int,
    message: str | None = None,
    *,
    accepted: int = 0,
    duplicates: int = 0,
    rejected: int = 0,
    results: Sequence[BatchItemResultData] = (),
) -> bytes:
    """Encode a SensorDataBatchResponse; all messages are cut to the nanopb limit.

    Raises WireLimitError if a counter, index or status is outside uint32.
    """
    response = batch_pb.SensorDataBatchResponse(
        status=_uint32("status", status),
        status_message=_optional_message(message),
        accepted=_uint32("accepted", accepted),
        duplicates=_uint32("duplicates", duplicates),
        rejected=_uint32("rejected", rejected),
        results=[
            batch_pb.BatchItemResult(
                index=_uint32("index", item.index),
                status=_uint32("status", item.status),
                status_message=_optional_message(item.status_message),
            )
            for item in results
        ],
    )
    return serialize(response)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 5) bytes and lengths of the varints of uint32 values."""
    values = values.astype(np.uint64)
    lengths = np.ones(len(values), dtype=np.int64)
    for bits in (7, 14, 21, 28):
        lengths += values >= (1 << bits)
    shifted = values[:, None] >> (7 * np.arange(5, dtype=np.uint64))[None, :]
    out = (shifted & np.uint64(0x7F)).astype(np.uint8)
    out[np.arange(5)[None, :] < (lengths[:, None] - 1)] |= 0x80
    return out, lengths


def encode_batch_response_compact(
    status: int,
    *,
    count: int,
    accepted: int,
    duplicates: int,
    rejected: int,
    exceptions: Mapping[int, tuple[int, str | None]],
    default: tuple[int, str | None] = (200, None),
) -> bytes:
    """`encode_batch_response` with a result for every index 0..count-1: `default` (status,
    message), except `exceptions` (index -> (status, message)). The same bytes, built with
    numpy instead of one message object per reading."""
    head = batch_pb.SensorDataBatchResponse(
        status=_uint32("status", status),
        accepted=_uint32("accepted", accepted),
        duplicates=_uint32("duplicates", duplicates),
        rejected=_uint32("rejected", rejected),
    )
    parts = [serialize(head)]
    _uint32("count", count)
    suffix = _result_suffix(*default)
    for start, end in pairwise([-1, *sorted(exceptions), count]):
        if end > start + 1:  # the default results between two exceptions
            parts.append(_default_results(start + 1, end, suffix))
        if end < count:
            item_status, item_message = exceptions[end]
            result = batch_pb.BatchItemResult(
                index=_uint32("index", end),
                status=_uint32("status", item_status),
                status_message=_optional_message(item_message),
            )
            parts.append(serialize(batch_pb.SensorDataBatchResponse(results=[result])))
    return b"".join(parts)


def _result_suffix(status: int, message: str | None) -> bytes:
    """A BatchItemResult's bytes after its index: status and message."""
    return serialize(
        batch_pb.BatchItemResult(
            status=_uint32("status", status), status_message=_optional_message(message)
        )
    )


def _default_results(first: int, stop: int, suffix: bytes) -> bytes:
    """Field 6 entries for indexes first..stop-1, each its index followed by `suffix`."""
    indexes = np.arange(first, stop, dtype=np.uint64)
    count = len(indexes)
    index_bytes, index_lengths = _varints(indexes)
    present = indexes > 0  # proto3 leaves out an index of 0
    body_lengths = np.where(present, 1 + index_lengths, 0) + len(suffix)
    length_bytes, length_lengths = _varints(body_lengths)
    width = 1 + 2 + 1 + 5 + len(suffix)
    rows = np.zeros((count, width), dtype=np.uint8)
    keep = np.zeros((count, width), dtype=bool)
    rows[:, 0] = 0x32
    keep[:, 0] = True
    rows[:, 1:3] = length_bytes[:, :2]  # a body is shorter than 2**14 bytes
    keep[:, 1:3] = np.arange(2)[None, :] < length_lengths[:, None]
    rows[:, 3] = 0x08
    keep[:, 3] = present
    rows[:, 4:9] = index_bytes
    keep[:, 4:9] = present[:, None] & (np.arange(5)[None, :] < index_lengths[:, None])
    rows[:, 9:] = np.frombuffer(suffix, dtype=np.uint8)
    keep[:, 9:] = True
    return rows[keep].tobytes()


# --- encoders: requests (simulated sensors, the ML client, tests) -------------------------------


def encode_token_request(data: TokenRequestData, *, send_need_script: bool | None = None) -> bytes:
    """Encode a TokenRequest.

    `need_script` is written only when true (Tasmota's behaviour) unless `send_need_script` is
    given: True always writes it (energyleaf-pi writes an explicit false), False never does.
    """
    write = data.need_script if send_need_script is None else send_need_script
    request = pb.TokenRequest(
        client_id=data.client_id,
        type=_sensor_type(data.sensor_type),
        need_script=data.need_script if write else None,
    )
    return serialize(request)


def encode_sensor_input(data: ReadingData) -> bytes:
    """Encode a reading as SensorDataRequestV2, or as the G1 float SensorDataRequest.

    `wire_format == "v1_float"` selects the G1 message; its value is rounded to float32.

    Raises ValueError if a v1_float reading carries optional fields (the message has none) or its
    value does not fit a float32. `timestamp_raw` must fit uint64.
    """
    if data.wire_format == "v1_float":
        if (data.value_current, data.value_out, data.timestamp_raw) != (None, None, None):
            raise ValueError("the G1 float SensorDataRequest has no optional fields")
        if math.isfinite(data.value) and abs(data.value) > 3.4028234663852886e38:
            raise ValueError("value does not fit a float32")
        v1 = pb.SensorDataRequest(
            access_token=data.access_token,
            type=_sensor_type(data.sensor_type),
            value=data.value,
        )
        return serialize(v1)
    v2 = pb.SensorDataRequestV2(
        access_token=data.access_token,
        type=_sensor_type(data.sensor_type),
        value=data.value,
        value_current=data.value_current,
        value_out=data.value_out,
        timestamp=data.timestamp_raw,
    )
    return serialize(v2)


def encode_script_accepted(data: ScriptAcceptedData) -> bytes:
    """Encode a ScriptAcceptedRequest."""
    return serialize(pb.ScriptAcceptedRequest(access_token=data.access_token))


def encode_batch(data: BatchData) -> bytes:
    """Encode a SensorDataBatchRequest; a `timestamp_raw` of None is written as 0 (absent)."""
    request = batch_pb.SensorDataBatchRequest(
        access_token=data.access_token,
        type=_sensor_type(data.sensor_type),
        readings=[
            batch_pb.BatchReading(
                value=reading.value,
                value_current=reading.value_current,
                value_out=reading.value_out,
                timestamp=reading.timestamp_raw or 0,
            )
            for reading in data.readings
        ],
    )
    return serialize(request)
