"""The protobuf request parser of the sensor endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError

from energyleaf.common.parsers import BoundedParser, InvalidJsonError, json_loads_limited
from sensors.protobuf.wire import InvalidPayload


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request too large"
    default_code = "too_large"


class _SensorBodyParser(BoundedParser):
    """Bodies up to ENERGYLEAF_SENSOR_MAX_BODY_BYTES; longer ones are PayloadTooLarge (413)."""

    def body_limit(self) -> int:
        return int(settings.ENERGYLEAF_SENSOR_MAX_BODY_BYTES)

    def too_large(self) -> Exception:
        return PayloadTooLarge()


class ProtobufParser(_SensorBodyParser):
    """Reads the body whatever its Content-Type (sensors send various or none) and decodes it
    with the view's `decode_body`; undecodable bodies raise ParseError (400 `Invalid data`)."""

    media_type = "*/*"

    def parse_body(self, body: bytes, parser_context: Mapping[str, Any]) -> Any:
        view = parser_context.get("view")
        try:
            return view.decode_body(body)  # type: ignore[union-attr]
        except InvalidPayload as exc:
            raise ParseError("Invalid data") from exc


class LimitedJSONParser(_SensorBodyParser):
    """JSON bodies for the batch endpoint, refused beyond the same size limit and nesting
    depth (an object in a list in the body: far below the limit)."""

    media_type = "application/json"

    def parse_body(self, body: bytes, parser_context: Mapping[str, Any]) -> Any:
        try:
            return json_loads_limited(body)
        except InvalidJsonError as exc:  # not JSON, NaN/Infinity, or nested too deeply
            raise ParseError("Invalid data") from exc
