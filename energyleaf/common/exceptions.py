"""Errors raised by services. The API layer turns them into one JSON error shape."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A business rule was violated; `status_code` is the HTTP status the API answers with."""

    status_code = 400
    default_code = "application_error"

    def __init__(
        self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    """The thing asked for does not exist or is not visible to the caller."""

    status_code = 404
    default_code = "not_found"
