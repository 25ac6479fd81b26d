"""The v1 sensor protocol as the clients see it (docs/protocol.md): endpoints, the SML script of a
simulated sensor and the outcome of one answer.

Outcome of one answer: 2xx is `accepted` (`duplicate` when `status_message` is `Duplicate`);
401 is `unauthorized` (the client fetches a new token and sends the reading once more); 408, 413,
429, 5xx, other statuses, undecodable answers and connection errors are `failed` (the server did
not store it - except for connection errors after the request was sent and undecodable 2xx
answers, whose readings are also listed in `maybe_stored`); any other 4xx is `refused` (the
server will never take that reading; its reason is counted). An HTTP 2xx whose body `status` is not
2xx is judged by the body status (as the Tasmota driver does); mismatches are counted in
`protocol_errors` (`simulation.clients`).

Requests are encoded and answers decoded by `sensors.protobuf.mapping`, the one owner of the wire
format (an undecodable answer raises its `InvalidPayload`). Pure Python, no Django.
"""

from __future__ import annotations

from typing import Final, Literal

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


def classify_status(status: int, message: str | None) -> Outcome:
    """Map an effective status (HTTP or body) to the outcome of a reading (module docstring)."""
    if 200 <= status <= 299:
        return "duplicate" if message == DUPLICATE_MESSAGE else "accepted"
    if status == 401:
        return "unauthorized"
    if 400 <= status <= 499 and status not in _RETRYABLE_CLIENT_ERRORS:
        return "refused"
    return "failed"
