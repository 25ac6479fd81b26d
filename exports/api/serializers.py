"""Input of the CSV export endpoints (the files themselves are written by the selectors)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from energyleaf.users.models import ExperimentParticipation


@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):  # type: ignore[type-arg]
    """A plain date (a local day of the household) or an ISO 8601 datetime with an offset."""

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


class EnergyExportInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    start = DateOrDateTimeField()
    end = DateOrDateTimeField()
    sensor = serializers.IntegerField(required=False, min_value=1)
    user = serializers.IntegerField(required=False, min_value=1)
    resolution = serializers.ChoiceField(choices=["raw", "hour", "day"], default="raw")
    tz = serializers.ChoiceField(
        choices=["utc", "local"], default="utc", help_text="local: the household's zone."
    )


class ExperimentExportInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(
        choices=ExperimentParticipation.Status.choices,
        default=ExperimentParticipation.Status.APPROVED,
    )
    all_statuses = serializers.BooleanField(
        default=False, help_text="Every status (the `status` filter is ignored)."
    )


class ExperimentMarkExportedInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=10_000
    )


class ExperimentExportMarkOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    user_id = serializers.IntegerField(source="participation.user_id")
    status = serializers.CharField(source="participation.status")
    exported_by = serializers.IntegerField(source="exported_by_id")
    exported_at = serializers.DateTimeField()
