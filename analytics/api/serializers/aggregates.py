"""Input and output of the household aggregates endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.selectors.aggregates import RESOLUTIONS
from energyleaf.common.fields import DateOrDateTimeField, RoundedNumberField
from energyleaf.common.numbers import KWH, WATTS, round_kwh, round_watts


class AggregateListInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    start = DateOrDateTimeField()
    end = DateOrDateTimeField()
    resolution = serializers.ChoiceField(choices=RESOLUTIONS)
    sensor = serializers.IntegerField(required=False, min_value=1)
    user = serializers.IntegerField(required=False, min_value=1)


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTimeField(serializers.Field):  # type: ignore[type-arg]
    """An aware datetime written as ISO 8601 with its own (local) offset, not converted to UTC."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()

    def to_internal_value(self, data: Any) -> Any:  # pragma: no cover - output only
        raise NotImplementedError


class AggregateRowsSerializer(serializers.ListSerializer):  # type: ignore[type-arg]
    """Rows of consecutive periods (a period's end is the next one's start), written without the
    per-field machinery and with each boundary formatted once: a year of hours is ~8 800 rows."""

    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        rows = list(data)
        if not rows:
            return []
        stamps = [row.start.isoformat() for row in rows]
        stamps.append(rows[-1].end.isoformat())
        return [_row(row, stamps[k], stamps[k + 1]) for k, row in enumerate(rows)]


class AggregateOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    consumption_kwh = RoundedNumberField(decimals=KWH)
    feed_in_kwh = RoundedNumberField(decimals=KWH)
    average_power_w = RoundedNumberField(decimals=WATTS, allow_null=True)
    max_power_w = RoundedNumberField(decimals=WATTS, allow_null=True)
    readings = serializers.IntegerField()

    class Meta:
        list_serializer_class = AggregateRowsSerializer

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _row(instance, instance.start.isoformat(), instance.end.isoformat())


def _row(row: Any, start: str, end: str) -> dict[str, Any]:
    """The keys, types and rounding of AggregateOutputSerializer's declared fields (which document
    them)."""
    return {
        "start": start,
        "end": end,
        "consumption_kwh": round_kwh(row.consumption_kwh),
        "feed_in_kwh": round_kwh(row.feed_in_kwh),
        "average_power_w": round_watts(row.average_power_w),
        "max_power_w": round_watts(row.max_power_w),
        "readings": row.readings,
    }


class AggregateListOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    sensor = serializers.IntegerField()
    time_zone = serializers.CharField()
    resolution = serializers.CharField()
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    results = AggregateOutputSerializer(many=True)
