"""Input and output serializers of the devices and peaks API."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.models import Device, DevicePowerEstimation, DeviceSuggestion, Sequence
from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import HOURS, KWH, PROBABILITY, WATTS
from energyleaf.common.permissions import has_model_permissions
from energyleaf.common.time import default_household_time_zone

HOUSEHOLD_MAX_SPAN_DAYS = 31
"""Households may ask for peaks of at most this many days at once (admins: any span)."""


@extend_schema_field(OpenApiTypes.STR)
class InstantField(serializers.Field):  # type: ignore[type-arg]
    """An ISO 8601 datetime with a UTC offset, or a date (its midnight in the default household
    time zone)."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 datetime with a UTC offset or a date (YYYY-MM-DD).",
        "naive": "The datetime needs a UTC offset (for example +00:00 or Z).",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                return datetime.combine(day, time(), ZoneInfo(default_household_time_zone()))
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid")
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.fail("naive")
        return moment

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class PeakListInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    start = InstantField()
    end = InstantField()
    kind = serializers.ChoiceField(choices=Sequence.Kind.choices, default=Sequence.Kind.PEAK)
    user = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "end must be after start."})
        request = self.context.get("request")
        unlimited = request is not None and has_model_permissions(
            request.user, "analytics.view_sequence"
        )
        span_days = (attrs["end"] - attrs["start"]).total_seconds() / 86_400
        if not unlimited and span_days > HOUSEHOLD_MAX_SPAN_DAYS:
            raise serializers.ValidationError(
                {"end": f"The range may span at most {HOUSEHOLD_MAX_SPAN_DAYS} days."}
            )
        return attrs


class UserFilterInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    user = serializers.IntegerField(required=False, min_value=1)


class PeakDeviceAssignInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    device_id = serializers.IntegerField(min_value=1)


class DeviceCreateInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=100)
    category = serializers.ChoiceField(choices=Device._meta.get_field("category").choices or [])
    power_w = serializers.FloatField(required=False, allow_null=True, min_value=0)
    is_power_estimated = serializers.BooleanField(required=False, default=True)
    weekly_usage_hours = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=168
    )


class DeviceUpdateInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=100, required=False)
    category = serializers.ChoiceField(
        choices=Device._meta.get_field("category").choices or [], required=False
    )
    power_w = serializers.FloatField(required=False, allow_null=True, min_value=0)
    is_power_estimated = serializers.BooleanField(required=False)
    weekly_usage_hours = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=168
    )


class DeviceOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    power_w = RoundedNumberField(decimals=WATTS, allow_null=True)
    weekly_usage_hours = RoundedNumberField(decimals=HOURS, allow_null=True)

    class Meta:
        model = Device
        fields = (
            "id",
            "name",
            "category",
            "power_w",
            "is_power_estimated",
            "weekly_usage_hours",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class PeakDeviceOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Device
        fields = ("id", "name", "category")
        read_only_fields = fields


class SuggestionOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    probability = RoundedNumberField(decimals=PROBABILITY)

    class Meta:
        model = DeviceSuggestion
        fields = ("category", "probability", "model_version")
        read_only_fields = fields


class PeakOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    devices = PeakDeviceOutputSerializer(many=True, read_only=True)
    suggestions = SuggestionOutputSerializer(
        many=True,
        read_only=True,
        source="top_suggestions",
        help_text="The classifier's top suggestions; empty for a household whose study arm is not "
        "shown suggestions (ENERGYLEAF_SUGGESTION_ARMS).",
    )
    average_power_w = RoundedNumberField(decimals=WATTS)
    average_peak_power_w = RoundedNumberField(decimals=WATTS)
    energy_kwh = RoundedNumberField(decimals=KWH)

    class Meta:
        model = Sequence
        fields = (
            "id",
            "kind",
            "start",
            "end",
            "average_power_w",
            "average_peak_power_w",
            "energy_kwh",
            "devices",
            "suggestions",
        )
        read_only_fields = fields


class EstimatedDeviceOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    power_w = RoundedNumberField(decimals=WATTS, allow_null=True)

    class Meta:
        model = Device
        fields = ("id", "name", "category", "power_w", "is_power_estimated")
        read_only_fields = fields


class PowerEstimationOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    devices = serializers.SerializerMethodField()
    r_squared = RoundedNumberField(decimals=PROBABILITY, allow_null=True)

    class Meta:
        model = DevicePowerEstimation
        fields = ("r_squared", "quality", "peaks_used", "created_at", "devices")
        read_only_fields = fields

    def get_devices(self, obj: DevicePowerEstimation) -> list[dict[str, Any]]:
        devices = self.context.get("devices", [])
        return list(EstimatedDeviceOutputSerializer(devices, many=True).data)
