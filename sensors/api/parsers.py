"""The protobuf request parser of the sensor endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from energyleaf.common.parsers import InvalidJsonError, json_loads_limited, read_at_most
from energyleaf.common.protobuf_wire import InvalidPayload


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request too large"
    default_code = "too_large"


def read_limited(stream: IO[Any] | None) -> bytes:
    """The whole body, or PayloadTooLarge (413) beyond ENERGYLEAF_SENSOR_MAX_BODY_BYTES; reads
    at most one byte more than the limit, whatever Content-Length claims."""
    body = read_at_most(stream, limit=int(settings.ENERGYLEAF_SENSOR_MAX_BODY_BYTES))
    if body is None:
        raise PayloadTooLarge
    return body


class ProtobufParser(BaseParser):
    """Reads the body whatever its Content-Type (sensors send various or none) and decodes it
    with the view's `decode_body`; undecodable bodies raise ParseError (400 `Invalid data`)."""

    media_type = "*/*"

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = read_limited(stream)
        view = (parser_context or {}).get("view")
        try:
            return view.decode_body(body)  # type: ignore[union-attr]
        except InvalidPayload as exc:
            raise ParseError("Invalid data") from exc


class LimitedJSONParser(BaseParser):
    """JSON bodies for the batch endpoint, refused beyond the same size limit and nesting
    depth (an object in a list in the body: far below the limit)."""

    media_type = "application/json"

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = read_limited(stream)
        try:
            return json_loads_limited(body)
        except InvalidJsonError as exc:  # not JSON, NaN/Infinity, or nested too deeply
            raise ParseError("Invalid data") from exc
