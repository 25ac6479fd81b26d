"""Sensor endpoints: protobuf in, protobuf out, byte-compatible with the clients in the field.

Every answer, errors and 405 included, is a protobuf message whose `status` equals the HTTP
status, sent as `Transfer-Encoding: chunked` with the whole message in one chunk (the Tasmota
driver reads only the first chunk and only accepts chunked 2xx answers) and
`Content-Type: application/x-protobuf`. Views are thin: decode (mapping), call one service,
encode (mapping).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from energyleaf.common.permissions import HasModelPermission
from energyleaf.common.throttling import rate_limit_hit
from sensors.compute.mac import canonical_mac_or_none

from .. import services
from ..models import Sensor
from ..protobuf import mapping
from ..services.tokens import SensorProtocolError
from .parsers import LimitedJSONParser, ProtobufParser
from .renderers import ProtobufRenderer
from .serializers import (
    BatchInputSerializer,
    SensorSettingsInputSerializer,
    SensorSettingsOutputSerializer,
)

logger = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"


def protobuf_response(status: int, body: bytes) -> StreamingHttpResponse:
    """A chunked answer carrying `body` as a single chunk (no Content-Length is set)."""
    return StreamingHttpResponse(iter((body,)), status=status, content_type=PROTOBUF)


class _AlwaysProtobuf(BaseContentNegotiation):
    """Sensors send any or no Accept header; the answer is protobuf regardless."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        candidates = list(parsers)
        content_type = request.content_type or ""
        for parser in candidates:
            if parser.media_type != "*/*" and content_type.startswith(parser.media_type):
                return parser
        return candidates[-1]

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class _RateFromSettings(BaseThrottle):
    """An atomic rate limit over a sliding minute (or second, hour, day) in the shared cache
    (`energyleaf.common.throttling`), read from the setting named `rate_setting` at request
    time."""

    scope = ""
    rate_setting = ""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        self.wait_seconds = rate_limit_hit(
            ident=ident, rate=str(getattr(settings, self.rate_setting))
        )
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


class SensorTokenAddressThrottle(_RateFromSettings):
    scope = "sensor_token_address"
    rate_setting = "ENERGYLEAF_TOKEN_RATE_PER_ADDRESS"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return f"{self.scope}:{self.get_ident(request)}"


class SensorTokenClientThrottle(_RateFromSettings):
    """The per-MAC limit, counted per (MAC, address): requests for a MAC from one address
    cannot use up the limit of the same MAC at another address (the real sensor's)."""

    scope = "sensor_token_client"
    rate_setting = "ENERGYLEAF_TOKEN_RATE_PER_CLIENT"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        data = request.data
        if not isinstance(data, mapping.TokenRequestData):
            return None
        mac = canonical_mac_or_none(data.client_id) or data.client_id.strip().upper()[:64]
        return f"{self.scope}:{mac}:{self.get_ident(request)}"


class ProtobufView(APIView):
    """Base of the sensor endpoints: how bodies are decoded and every failure is answered."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes: tuple[type[BaseParser], ...] = (ProtobufParser,)
    renderer_classes = (ProtobufRenderer,)
    content_negotiation_class = _AlwaysProtobuf
    throttle_classes: tuple[type[BaseThrottle], ...] = ()
    schema = None  # documented in docs/protocol.md, not in OpenAPI
    # Only POST: anything else (OPTIONS included) is a protobuf 405 with `Allow: POST`.
    http_method_names = ["post"]
    function_name = "sensor-api"

    def decode_body(self, body: bytes) -> object:
        """The request message as a mapping dataclass; raises mapping.InvalidPayload."""
        raise NotImplementedError

    def encode_error(self, status: int, message: str | None) -> bytes:
        """The endpoint's answer message for a failure."""
        return mapping.encode_sensor_data_response(status, message)

    def payload(self, request: Request) -> Any:
        """The decoded message; an empty body is `No body`, as in the reference."""
        data = request.data
        if isinstance(data, dict) and not data:
            raise SensorProtocolError("No body")
        return data

    def handle_exception(self, exc: Exception) -> Response:
        status, message = self.classify(exc)
        # DRF types this as Response; any HttpResponseBase is fine for finalize_response.
        return self.error_response(status, message)  # type: ignore[return-value]

    def error_response(self, status: int, message: str) -> HttpResponseBase:
        return protobuf_response(status, self.encode_error(status, message))

    def classify(self, exc: Exception) -> tuple[int, str]:
        """HTTP status and status text for any exception, logged without secrets."""
        if isinstance(exc, SensorProtocolError):
            status, message = exc.status, exc.message
        elif isinstance(exc, exceptions.Throttled):
            status, message = 429, "Too many requests"
        elif isinstance(exc, exceptions.MethodNotAllowed):
            status, message = 405, "Method not allowed"
        elif isinstance(exc, exceptions.ParseError | exceptions.ValidationError):
            status, message = 400, "Invalid data"
        elif isinstance(exc, exceptions.APIException):
            status, message = exc.status_code, str(exc.detail)
        elif isinstance(exc, DatabaseError):
            logger.error("sensor_api.database_error", exc_info=exc)
            return 500, "Database error"
        else:
            logger.error("sensor_api.unexpected_error", exc_info=exc)
            return 500, "Internal error"
        logger.info(
            "sensor_api.refused %s %s %s",
            self.function_name,
            status,
            message,
            extra={"function": self.function_name, "status": status, "status_message": message},
        )
        return status, message


class TokenView(ProtobufView):
    """`POST /api/v1/token`: TokenRequest → TokenResponse with a token and, when due, the script
    or the analog rotations. Rate-limited per address and per MAC (429 `Too many requests`)."""

    throttle_classes = (SensorTokenAddressThrottle, SensorTokenClientThrottle)
    function_name = "sensor-token"

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_token_request(body)

    def encode_error(self, status: int, message: str | None) -> bytes:
        return mapping.encode_token_response(status, message)

    def post(self, request: Request) -> HttpResponseBase:
        data: mapping.TokenRequestData = self.payload(request)
        issue = services.sensor_token_issue(client_id=data.client_id, need_script=data.need_script)
        body = mapping.encode_token_response(
            200,
            access_token=issue.access_token,
            expires_in=issue.expires_in,
            script=issue.script,
            analog_rotation_per_kwh=issue.analog_rotation_per_kwh,
        )
        return protobuf_response(200, body)


class SensorInputView(ProtobufView):
    """`POST /api/v1/sensor_input`: SensorDataRequestV2 (or the G1 float message) →
    SensorDataResponse. 200 stored (`Duplicate` when stored before), 401 token problems,
    400 refused with its reason, 5xx not stored."""

    function_name = "sensor-input"
    sensor_type: ClassVar[str | None] = None

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_sensor_input(body)

    def reading(self, data: Any) -> tuple[str, services.ReadingInput]:
        reading: mapping.ReadingData = data
        return reading.access_token, services.ReadingInput(
            value=reading.value,
            value_current=reading.value_current,
            value_out=reading.value_out,
            timestamp=reading.timestamp_raw,
            wire_format=reading.wire_format,
        )

    def post(self, request: Request) -> HttpResponseBase:
        token, reading = self.reading(self.payload(request))
        result = services.sensor_readings_ingest(
            token=token, readings=[reading], sensor_type=self.sensor_type
        )
        outcome = result.outcomes[0]
        body = mapping.encode_sensor_data_response(outcome.status, outcome.message)
        return protobuf_response(outcome.status, body)


class EnergyInputView(SensorInputView):
    """`POST /api/v2/energy`: the G3 EnergyDataRequest (text timestamp) → SensorDataResponse."""

    sensor_type = Sensor.SensorType.ELECTRICITY

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_energy(body)

    def reading(self, data: Any) -> tuple[str, services.ReadingInput]:
        reading: mapping.EnergyReadingData = data
        return reading.access_token, services.ReadingInput(
            value=reading.value,
            value_current=reading.value_current,
            value_out=reading.value_out,
            timestamp=reading.timestamp,
            wire_format="g3_energy",
        )


class GasInputView(SensorInputView):
    """`POST /api/v2/gas`: GasDataRequest (m³ register, server time) → SensorDataResponse."""

    sensor_type = Sensor.SensorType.GAS
    wire_format = "g3_gas"

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_gas(body)

    def reading(self, data: Any) -> tuple[str, services.ReadingInput]:
        # GasReadingData and WaterReadingData have the same fields.
        reading: mapping.GasReadingData | mapping.WaterReadingData = data
        return reading.access_token, services.ReadingInput(
            value=reading.value, value_current=reading.value_current, wire_format=self.wire_format
        )


class WaterInputView(GasInputView):
    """`POST /api/v2/water`: WaterDataRequest (m³ register, server time) → SensorDataResponse."""

    sensor_type = Sensor.SensorType.WATER
    wire_format = "g3_water"

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_water(body)


class ScriptAcceptedView(ProtobufView):
    """`POST /api/v1/script_accepted`: the sensor confirms its script; it is not sent again."""

    function_name = "accepting-script"

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_script_accepted(body)

    def encode_error(self, status: int, message: str | None) -> bytes:
        return mapping.encode_script_accepted_response(status, message)

    def post(self, request: Request) -> HttpResponseBase:
        data: mapping.ScriptAcceptedData = self.payload(request)
        services.sensor_script_accept(token=data.access_token)
        return protobuf_response(200, mapping.encode_script_accepted_response(200))


def batch_reading_inputs(batch: mapping.BatchData) -> list[services.ReadingInput]:
    """The readings of a protobuf batch as the ingestion service takes them, in batch order."""
    return [
        services.ReadingInput(
            value=item.value,
            value_current=item.value_current,
            value_out=item.value_out,
            timestamp=item.timestamp_raw,
            wire_format="batch_protobuf",
        )
        for item in batch.readings
    ]


class BatchInputView(ProtobufView):
    """`POST /api/v1/sensor_input/batch`: many buffered readings in one request.

    Protobuf `SensorDataBatchRequest` → `SensorDataBatchResponse`, or the same as JSON with
    `Content-Type: application/json`. Each reading is judged like a single one and gets its own
    result; re-sending stores nothing twice. At most `ENERGYLEAF_BATCH_MAX_READINGS` readings
    (advertised in the `X-Energyleaf-Batch-Max` header of every answer).
    """

    parser_classes = (LimitedJSONParser, ProtobufParser)
    function_name = "sensor-input-batch"

    def decode_body(self, body: bytes) -> object:
        return mapping.decode_batch_columns(body)

    def is_json(self) -> bool:
        return (self.request.content_type or "").startswith("application/json")

    def encode_error(self, status: int, message: str | None) -> bytes:
        return mapping.encode_batch_response(status, message)

    def error_response(self, status: int, message: str) -> HttpResponseBase:
        if self.is_json():
            response: HttpResponseBase = JsonResponse(
                {"status": status, "status_message": message}, status=status
            )
        else:
            response = protobuf_response(status, self.encode_error(status, message))
        response["X-Energyleaf-Batch-Max"] = str(settings.ENERGYLEAF_BATCH_MAX_READINGS)
        return response

    def post(self, request: Request) -> HttpResponseBase:
        data = self.payload(request)
        if not self.is_json():
            return self.post_protobuf(data)
        serializer = BatchInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        token: str = serializer.validated_data["access_token"]
        readings = [
            services.ReadingInput(**item, wire_format="batch_json")
            for item in serializer.validated_data["readings"]
        ]
        self.check_size(len(readings))
        batch = services.ReadingBatch.of_inputs(readings, "batch_json")
        if batch is None:  # text timestamps: the general path
            general = services.sensor_readings_ingest(token=token, readings=readings)
            result = services.BatchIngestResult.of(general)
        else:
            result = services.sensor_batch_ingest(token=token, batch=batch)
        results = []
        for index in range(result.count):
            status, message = result.outcome(index)
            results.append({"index": index, "status": status, "status_message": message})
        response = JsonResponse(
            {
                "status": 200,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "results": results,
            }
        )
        response["X-Energyleaf-Batch-Max"] = str(settings.ENERGYLEAF_BATCH_MAX_READINGS)
        return response

    def check_size(self, count: int) -> None:
        limit = int(settings.ENERGYLEAF_BATCH_MAX_READINGS)
        if not count:
            raise SensorProtocolError("No readings")
        if count > limit:
            raise SensorProtocolError(f"Too many readings (at most {limit})", status=413)

    def post_protobuf(self, batch: mapping.BatchColumnsData) -> HttpResponseBase:
        """Columns in, columns through the service, the answer built in one go."""
        self.check_size(len(batch))
        result = services.sensor_batch_ingest(
            token=batch.access_token,
            batch=services.ReadingBatch(
                value=batch.value,
                value_current=batch.value_current,
                has_current=batch.has_current,
                value_out=batch.value_out,
                has_out=batch.has_out,
                timestamp=batch.timestamp,
            ),
        )
        body = mapping.encode_batch_response_compact(
            200,
            count=result.count,
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=result.rejected,
            exceptions=result.exceptions,
            default=result.default,
        )
        response = protobuf_response(200, body)
        response["X-Energyleaf-Batch-Max"] = str(settings.ENERGYLEAF_BATCH_MAX_READINGS)
        return response


class SensorSettingsView(APIView):
    """Support staff change a sensor's script, rotations and `needs_script` (JSON, JWT; the
    `sensors.change_sensor` permission). The sensor receives them on its next token request
    while `needs_script` is set (docs/protocol.md)."""

    permission_classes = (HasModelPermission.of("sensors.change_sensor"),)

    @extend_schema(
        request=SensorSettingsInputSerializer,
        responses={
            200: SensorSettingsOutputSerializer,
            400: OpenApiResponse(description="A setting is invalid (errors per field)."),
            403: OpenApiResponse(description="The caller lacks sensors.change_sensor."),
            404: OpenApiResponse(description="No such sensor."),
        },
        operation_id="sensor_settings_update",
    )
    def patch(self, request: Request, sensor_id: int) -> Response:
        sensor = get_object_or_404(Sensor, pk=sensor_id)
        serializer = SensorSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A ValidationError of the service becomes the API's per-field error body
        # (energyleaf.common.api.exception_handler).
        sensor = services.sensor_settings_update(
            sensor=sensor,
            **serializer.validated_data,
            actor_id=request.user.pk,
            app_component="api",
        )
        return Response(SensorSettingsOutputSerializer(sensor).data)
