"""Fuzz the sensor endpoints in-process through Django's test client, on a real database.

Input: one selector byte (bits 0-2: endpoint; bit 7: `Content-Type: application/json`, bit 6:
no Content-Type, else protobuf) and the body; `TOKEN_PLACEHOLDER` in the body becomes the live
token of a registered sensor, so mutated readings get past authentication. Every answer must be
below 500, and a protobuf answer must decode with `status` equal to the HTTP status (JSON for the
batch endpoint's JSON form).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bench.fuzz import common

common.django_setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from bench.fuzz.seeds import ENDPOINTS, TOKEN_PLACEHOLDER  # noqa: E402
from sensors.protobuf import energyleaf_batch_pb2 as batch_pb  # noqa: E402
from sensors.protobuf import energyleaf_pb2 as pb  # noqa: E402

ANSWERS: dict[str, Any] = {
    "/api/v1/token": pb.TokenResponse,
    "/api/v1/script_accepted": pb.ScriptAcceptedResponse,
    "/api/v1/sensor_input/batch": batch_pb.SensorDataBatchResponse,
}


def _prepare() -> tuple[Client, bytes]:
    logging.disable(logging.WARNING)  # every refused reading logs a warning; errors still show
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    unlimited = "1000000/min"  # the rate limits would turn most token requests into 429s
    settings.ENERGYLEAF_TOKEN_RATE_PER_CLIENT = unlimited
    settings.ENERGYLEAF_TOKEN_RATE_PER_ADDRESS = unlimited
    from energyleaf.users.models import User
    from sensors.services import sensor_register, sensor_token_issue

    user = User.objects.create_user(email="fuzz@example.org", username="fuzz", password=None)
    sensor_register(client_id="5C:CF:7F:12:34:56", user=user, script="sml")
    token = sensor_token_issue(client_id="5C:CF:7F:12:34:56", need_script=False).access_token
    assert len(token) == len(TOKEN_PLACEHOLDER)
    return Client(raise_request_exception=False), token.encode()


CLIENT, TOKEN = _prepare()


def _body(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


def check(data: bytes) -> None:
    if not data:
        return
    path = ENDPOINTS[(data[0] & 0x07) % len(ENDPOINTS)]
    as_json = bool(data[0] & 0x80)
    body = data[1:].replace(TOKEN_PLACEHOLDER, TOKEN)
    if as_json:
        content_type = "application/json"
    elif data[0] & 0x40:
        content_type = ""
    else:
        content_type = "application/x-protobuf"
    response = CLIENT.generic("POST", path, body, content_type=content_type)
    answer = _body(response)
    status = response.status_code
    assert status < 500, (path, status, answer[:200])
    if response["Content-Type"].startswith("application/json"):
        assert json.loads(answer)["status"] == status, (path, status, answer[:200])
    else:
        message = ANSWERS.get(path, pb.SensorDataResponse).FromString(answer)
        assert message.status == status, (path, status, answer[:200])


if __name__ == "__main__":
    common.main(
        check,
        instrument=[
            "sensors.api.views",
            "sensors.api.parsers",
            "sensors.api.serializers",
            "sensors.protobuf.mapping",
            "sensors.services.ingestion",
            "sensors.services.tokens",
            "sensors.compute.planning",
        ],
    )
