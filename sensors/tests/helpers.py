"""Helpers of the sensors tests (plain functions and classes; fixtures are in conftest.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.test import Client

from energyleaf.tests.helpers import body_bytes
from sensors.models import Reading, Sensor
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.tests.factories import ReadingFactory

# Every path a sensor posts protobuf to (the order is the fuzz regressions' index).
SENSOR_ENDPOINTS = (
    "/api/v1/token",
    "/api/v1/sensor_input",
    "/api/v1/script_accepted",
    "/api/v1/sensor_input/batch",
    "/api/v2/energy",
    "/api/v2/gas",
    "/api/v2/water",
)


def reading(
    sensor: Sensor, moment: datetime, value: str, consumption: str, **extra: Any
) -> Reading:
    """One stored reading with exact decimals (extra fields as keyword arguments)."""
    return ReadingFactory(
        sensor=sensor,
        timestamp=moment,
        value=Decimal(value),
        consumption=Decimal(consumption),
        **extra,
    )


class SensorClient:
    """Posts real protobuf bytes to the sensor endpoints through Django's test client."""

    def __init__(self, client: Client):
        self.client = client

    def post(self, path: str, body: bytes, content_type: str = "application/x-protobuf"):  # type: ignore[no-untyped-def]
        return self.client.generic("POST", path, body, content_type=content_type)

    def token(self, client_id: str, need_script: bool | None = None) -> pb.TokenResponse:
        body = mapping.encode_token_request(
            mapping.TokenRequestData(client_id, 1, bool(need_script)),
            send_need_script=need_script,
        )
        response = self.post("/api/v1/token", body)
        message = pb.TokenResponse.FromString(body_bytes(response))
        assert message.status == response.status_code
        return message

    def send(
        self,
        token: str,
        value: float,
        *,
        timestamp: int | None = None,
        value_current: float | None = None,
        value_out: float | None = None,
        sensor_type: int = 1,
    ) -> tuple[int, str | None]:
        request = pb.SensorDataRequestV2(access_token=token, type=sensor_type, value=value)
        if timestamp is not None:
            request.timestamp = timestamp
        if value_current is not None:
            request.value_current = value_current
        if value_out is not None:
            request.value_out = value_out
        response = self.post("/api/v1/sensor_input", request.SerializeToString())
        message = pb.SensorDataResponse.FromString(body_bytes(response))
        assert message.status == response.status_code
        return response.status_code, (
            message.status_message if message.HasField("status_message") else None
        )
