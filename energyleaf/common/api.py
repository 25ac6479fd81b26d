"""One JSON error shape for the whole JSON API.

Every error body is `{"message": str, "code": str, "extra": {...}}`; validation errors carry the
field errors in `extra.fields`. Django's ValidationError, Http404 and PermissionDenied, DRF's
APIException family and our ApplicationError all end up in this shape.

An APIException whose detail is structured keeps its meaning: simplejwt's
`{"detail", "code", "messages"}` becomes its own message and code (`token_not_valid`, ...) with
the per-token-class `messages` in `extra`; any other dict or list gives its first message and
code, the whole detail in `extra.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import ApplicationError
from .parsers import JsonTooLargeError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER producing the documented error body."""
    if isinstance(exc, ApplicationError):
        return Response(
            {"message": exc.message, "code": exc.code, "extra": exc.extra},
            status=exc.status_code,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = JsonTooLargeError()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "message": "Validation error",
            "code": "invalid",
            "extra": {"fields": response.data},
        }
    elif isinstance(exc, exceptions.APIException):
        response.data = _error_body(exc)
    else:  # pragma: no cover - drf_exception_handler only answers APIException subclasses
        response.status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    return response


def _error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """The error body of an APIException whose detail is a text, a dict or a list."""
    detail = exc.detail
    if not isinstance(detail, dict | list):
        codes = exc.get_codes()
        return {
            "message": str(detail),
            "code": codes if isinstance(codes, str) else "error",
            "extra": {},
        }
    if isinstance(detail, dict) and "detail" in detail:
        # simplejwt (and DRF-style) `{"detail": text, "code": text, ...more}`.
        extra = {
            key: _plain(value) for key, value in detail.items() if key not in ("detail", "code")
        }
        message = str(detail["detail"])
        specific = sorted(
            {
                str(item["message"])
                for item in extra.get("messages", [])
                if isinstance(item, dict) and "message" in item
            }
        )
        if len(specific) == 1:
            # One reason for every token class (`Token is expired`) says more than the summary.
            extra["detail"] = message
            message = specific[0]
        code = detail.get("code")
        return {
            "message": message,
            "code": str(code) if code else _first_code(exc.get_codes()) or "error",
            "extra": extra,
        }
    first = next(_texts(detail), None)
    return {
        "message": str(first) if first is not None else "Request failed",
        "code": _first_code(exc.get_codes()) or "error",
        "extra": {"errors": _plain(detail)},
    }


def _texts(detail: Any) -> Iterator[Any]:
    """The leaf messages of a nested detail, depth first."""
    if isinstance(detail, dict):
        for value in detail.values():
            yield from _texts(value)
    elif isinstance(detail, list):
        for value in detail:
            yield from _texts(value)
    else:
        yield detail


def _first_code(codes: Any) -> str | None:
    return next((str(code) for code in _texts(codes)), None)


def _plain(value: Any) -> Any:
    """A detail with ErrorDetail texts made plain strings (JSON-ready)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value) if value is not None else None
