"""The JSON parser of the whole JSON API: bounded in size and in nesting depth.

DRF's JSONParser reads a body of any size and lets the RecursionError of a deeply nested body
(100 KB of `[`) escape as a 500. Here a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 and a
body nested deeper than MAX_JSON_DEPTH, or not JSON at all, a 400 in the API's error shape.
No API input is legitimately nested more than a few levels.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

MAX_JSON_DEPTH = 32


class JsonTooLargeError(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "too_large"


class InvalidJsonError(ValueError):
    """Not JSON, a NaN/Infinity constant, or nested deeper than allowed."""


def _refuse_constant(name: str) -> float:
    raise InvalidJsonError(f"{name} is not JSON")


def _too_deep(value: Any, max_depth: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `max_depth` (iterative: no
    recursion however deep the value is)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def json_loads_limited(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` that raises InvalidJsonError (never RecursionError) for invalid JSON, NaN or
    Infinity, and arrays/objects nested deeper than `max_depth`."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InvalidJsonError("JSON nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJsonError(str(exc)) from exc
    if isinstance(value, dict | list):
        # Cheap bound first: nesting cannot exceed the number of brackets and braces.
        opened = (
            body.count(b"[") + body.count(b"{")
            if isinstance(body, bytes)
            else body.count("[") + body.count("{")
        )
        if opened > max_depth and _too_deep(value, max_depth):
            raise InvalidJsonError(f"JSON nested deeper than {max_depth} levels")
    return value


def read_at_most(stream: IO[Any] | None, *, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` bytes; reads at most one byte more
    than the limit, whatever Content-Length claims. Each parser answers None with its own error."""
    body: bytes = stream.read(limit + 1) if stream is not None else b""
    return None if len(body) > limit else body


class BoundedParser(parsers.BaseParser):
    """A parser that reads the whole body, at most `body_limit()` bytes (never more than one byte
    beyond, whatever Content-Length claims), and hands it to `parse_body`. A longer body raises
    the parser's `too_large()` error: each API keeps its own (JSON API, sensors, ML endpoint)."""

    def body_limit(self) -> int:
        """The largest body accepted, in bytes (read from the settings at call time)."""
        return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)

    def too_large(self) -> Exception:
        return JsonTooLargeError()

    def parse_body(self, body: bytes, parser_context: Mapping[str, Any]) -> Any:
        return body

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = read_at_most(stream, limit=self.body_limit())
        if body is None:
            raise self.too_large()
        return self.parse_body(body, parser_context or {})


class JSONParser(BoundedParser, parsers.JSONParser):
    """DRF's JSONParser with a size limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 413) and a nesting
    limit (MAX_JSON_DEPTH, 400); NaN and Infinity are refused as in strict JSON."""

    def parse_body(self, body: bytes, parser_context: Mapping[str, Any]) -> Any:
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(body, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError("JSON parse error - the body is not valid text.") from exc
        try:
            return json_loads_limited(text)
        except InvalidJsonError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
