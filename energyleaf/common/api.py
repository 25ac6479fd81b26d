"""One JSON error shape for the whole JSON API.

Every error body is `{"message": str, "code": str, "extra": {...}}`; validation errors carry the
field errors in `extra.fields`. Django's ValidationError, Http404 and PermissionDenied, DRF's
APIException family and our ApplicationError all end up in this shape.
"""

from __future__ import annotations

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
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else "Request failed"
        response.data = {
            "message": message,
            "code": exc.get_codes() if isinstance(exc.get_codes(), str) else "error",
            "extra": {},
        }
    else:  # pragma: no cover - drf_exception_handler only answers APIException subclasses
        response.status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    return response
