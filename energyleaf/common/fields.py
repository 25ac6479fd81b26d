"""Serializer fields shared by the JSON API of several apps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .numbers import round_to


@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):  # type: ignore[type-arg]
    """A plain date (a local day of the household) or an ISO 8601 datetime with an offset.

    Dates come back as `date` for the caller to place in the household's zone; datetimes
    without an offset are refused rather than guessed.
    """

    default_error_messages = {
        "invalid": "Give a date (YYYY-MM-DD) or an ISO 8601 datetime with an offset.",
        "naive": "A datetime needs an offset (for example 2024-03-31T00:00:00+01:00).",
    }

    def to_internal_value(self, data: Any) -> date | datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid")
        if moment.tzinfo is None:
            self.fail("naive")
        return moment

    def to_representation(self, value: Any) -> Any:  # pragma: no cover - input only
        return value.isoformat()


@extend_schema_field(OpenApiTypes.DOUBLE)
class RoundedNumberField(serializers.Field):  # type: ignore[type-arg]
    """Output only: a float or Decimal written as a JSON number rounded to `decimals` places."""

    def __init__(self, *, decimals: int, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)
        self.decimals = decimals

    def to_representation(self, value: Any) -> float | None:
        return round_to(value, self.decimals)

    def to_internal_value(self, data: Any) -> Any:  # pragma: no cover - output only
        raise NotImplementedError
