"""Checked decoding of protobuf bodies, shared by every wire format of the project (the
sensors' messages in `sensors.protobuf.mapping`, the ML messages in
`analytics.api.protobuf.mapping`). Like the rest of `sensors.protobuf` it imports no Django, so
the simulation can use it.

The official runtime accepts a known field that arrived with a wire type its declaration does not
allow (it keeps it as an unknown field and reads the default). `decode_checked` refuses such
bodies, and every other malformed body, with `InvalidPayload`; unknown field numbers are skipped.
A schema maps each known field number of a message to the wire types it may arrive with (and the
schema of a message-typed field). The decoding contract is described in
`sensors.protobuf.mapping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError, Message

# --- wire types ----------------------------------------------------------------------------------

VARINT: Final = 0
I64: Final = 1
LEN: Final = 2
I32: Final = 5
MAX_UINT64: Final = 2**64 - 1
MAX_TAG: Final = 2**32 - 1
FIXED_SIZES: Final = {I64: 8, I32: 4}


class InvalidPayload(ValueError):  # noqa: N818 - public name used by the API layers
    """The body is not a decodable message of the expected type."""


# --- wire scanner --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """Allowed wire types of a known field; `nested` is the schema of a message-typed field."""

    wire_types: frozenset[int]
    nested: Mapping[int, Rule] | None = None


Schema = Mapping[int, Rule]

R_VARINT: Final = Rule(frozenset({VARINT}))
R_I64: Final = Rule(frozenset({I64}))
R_LEN: Final = Rule(frozenset({LEN}))


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a varint at `pos`; return (value, position after it). Rejects > 10 bytes / > 2**64-1."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise InvalidPayload("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift >= 70:
            raise InvalidPayload("varint longer than 10 bytes")
    if result > MAX_UINT64:
        raise InvalidPayload("varint exceeds 64 bits")
    return result, pos


def scan_fields(buf: bytes, pos: int, end: int, schema: Schema) -> dict[int, int]:
    """Walk the tags of the message in `buf[pos:end]` and validate them against `schema`.

    Returns, for every known field number present, a bit mask of the wire types it arrived with
    (bit `1 << wire_type`). Fields of known message type are validated recursively; unknown field
    numbers are skipped without looking inside. Raises InvalidPayload on malformed data or a
    known field with a wire type its rule does not allow.
    """
    seen: dict[int, int] = {}
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(buf, pos, end)
            if tag > MAX_TAG:
                raise InvalidPayload("tag exceeds 32 bits")
        number = tag >> 3
        wire_type = tag & 7
        if number == 0:
            raise InvalidPayload("field number 0")
        start = pos
        if wire_type == VARINT:
            _, pos = read_varint(buf, pos, end)
        elif wire_type == LEN:
            length, start = read_varint(buf, pos, end)
            pos = start + length
        else:
            size = FIXED_SIZES.get(wire_type)
            if size is None:
                raise InvalidPayload(f"unsupported wire type {wire_type} (field {number})")
            pos += size
        if pos > end:
            raise InvalidPayload(f"truncated field {number}")
        rule = schema.get(number)
        if rule is None:
            continue
        if wire_type not in rule.wire_types:
            raise InvalidPayload(f"field {number} has unexpected wire type {wire_type}")
        seen[number] = seen.get(number, 0) | (1 << wire_type)
        if rule.nested is not None:
            scan_fields(buf, start, pos, rule.nested)
    return seen


def as_bytes(body: bytes | bytearray | memoryview) -> bytes:
    """Return `body` as an immutable bytes object."""
    return body if isinstance(body, bytes) else bytes(body)


def parse_into(message: Message, body: bytes) -> None:
    """Parse `body` with the runtime; its errors (e.g. bad UTF-8) become InvalidPayload."""
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise InvalidPayload(str(exc)) from exc


def decode_checked(message: Message, body: bytes | bytearray | memoryview, schema: Schema) -> None:
    """Parse `body` into `message`, rejecting what `scan_fields` rejects.

    Fast path: a body that is byte-for-byte the canonical serialization of what the runtime parsed
    (after dropping unknown fields) cannot contain a known field with a wrong wire type, nor
    anything else `scan_fields` rejects, so the pure-Python scan is skipped (it matters for large
    batches). Official runtimes produce such bodies; anything else (unknown fields, another field
    order, repeated or explicit default fields, non-minimal varints) takes the scan.
    """
    data = as_bytes(body)
    parse_into(message, data)
    message.DiscardUnknownFields()
    if message.SerializeToString(deterministic=True) != data:
        scan_fields(data, 0, len(data), schema)


def serialize(message: Message) -> bytes:
    """Serialize deterministically (fields in ascending number order, sorted map keys)."""
    return message.SerializeToString(deterministic=True)
