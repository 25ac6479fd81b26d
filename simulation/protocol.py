"""The v1 sensor protocol as the clients see it (docs/protocol.md): endpoints, the SML script of a
simulated sensor, decoding of the server's answers and the outcome of one answer.

Outcome of one answer: 2xx is `accepted` (`duplicate` when `status_message` is `Duplicate`);
401 is `unauthorized` (the client fetches a new token and sends the reading once more); 408, 413,
429, 5xx, other statuses, undecodable answers and connection errors are `failed` (the server did
not store it - except for connection errors after the request was sent and undecodable 2xx
answers, whose readings are also listed in `maybe_stored`); any other 4xx is `refused` (the
server will never take that reading; its reason is counted). An HTTP 2xx whose body `status` is not
2xx is judged by the body status (as the Tasmota driver does); mismatches are counted in
`protocol_errors` (`simulation.clients`).

Encoding goes through `sensors.protobuf.mapping`, the server's own wire format. Pure Python, no
Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from google.protobuf.message import DecodeError, Message

from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf.mapping import BatchItemResultData

Outcome = Literal["accepted", "duplicate", "unauthorized", "refused", "failed"]

TOKEN_PATH: Final = "/api/v1/token"  # noqa: S105 - a URL path, not a password
SENSOR_INPUT_PATH: Final = "/api/v1/sensor_input"
SCRIPT_ACCEPTED_PATH: Final = "/api/v1/script_accepted"
BATCH_PATH: Final = "/api/v1/sensor_input/batch"
BATCH_MAX_HEADER: Final = "X-Energyleaf-Batch-Max"

DIGITAL_ELECTRICITY: Final = 1
DUPLICATE_MESSAGE: Final = "Duplicate"
_RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 413, 429})

SIMULATOR_SCRIPT: Final = (
    ">D\n"
    ">B\n"
    "=>sensor53 r\n"
    ">M 1\n"
    "+1,3,s,16,9600,Energyleaf\n"
    "1,77070100010800ff@1000,Import,kWh,energyleaf_kwh,4\n"
    "1,77070100020800ff@1000,Export,kWh,energyleaf_out,4\n"
    "1,77070100100700ff@1,Power,W,energyleaf_current,0\n"
    "#\n"
)
"""SML script registered for simulated sensors (`simulate_sensors --register`): import, export
and power."""


class ProtocolError(ValueError):
    """An answer body that is not the protobuf message the endpoint must answer with."""


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """A decoded TokenResponse; absent optional fields are None."""

    status: int
    status_message: str | None
    access_token: str | None
    expires_in: int | None
    script: str | None
    analog_rotation_per_kwh: int | None


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """A decoded SensorDataResponse or ScriptAcceptedResponse (status 0 = empty body)."""

    status: int
    status_message: str | None


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """A decoded SensorDataBatchResponse."""

    status: int
    status_message: str | None
    accepted: int
    duplicates: int
    rejected: int
    results: tuple[BatchItemResultData, ...]


def _parse(message: Message, body: bytes) -> None:
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise ProtocolError(str(exc)) from exc


def _optional_text(message: Message, name: str) -> str | None:
    value = getattr(message, name)
    return str(value) if message.HasField(name) else None


def decode_token_response(body: bytes) -> TokenAnswer:
    """Decode a `/api/v1/token` answer; raises ProtocolError if it is not a TokenResponse."""
    message = pb.TokenResponse()
    _parse(message, body)
    return TokenAnswer(
        status=message.status,
        status_message=_optional_text(message, "status_message"),
        access_token=_optional_text(message, "access_token"),
        expires_in=message.expires_in if message.HasField("expires_in") else None,
        script=_optional_text(message, "script"),
        analog_rotation_per_kwh=(
            message.analog_rotation_per_kwh if message.HasField("analog_rotation_per_kwh") else None
        ),
    )


def decode_status_response(body: bytes) -> StatusAnswer:
    """Decode a SensorDataResponse or ScriptAcceptedResponse (same layout)."""
    message = pb.SensorDataResponse()
    _parse(message, body)
    return StatusAnswer(message.status, _optional_text(message, "status_message"))


def decode_batch_response(body: bytes) -> BatchAnswer:
    """Decode a `/api/v1/sensor_input/batch` answer."""
    message = batch_pb.SensorDataBatchResponse()
    _parse(message, body)
    return BatchAnswer(
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


def classify_status(status: int, message: str | None) -> Outcome:
    """Map an effective status (HTTP or body) to the outcome of a reading (module docstring)."""
    if 200 <= status <= 299:
        return "duplicate" if message == DUPLICATE_MESSAGE else "accepted"
    if status == 401:
        return "unauthorized"
    if 400 <= status <= 499 and status not in _RETRYABLE_CLIENT_ERRORS:
        return "refused"
    return "failed"
