"""Serializers of `POST /api/v1/ml`: the reference's JSON shape of one or several peaks as power
samples, and the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from analytics.services.suggestions import MAX_SAMPLES_PER_PEAK
from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import PROBABILITY

MAX_PEAKS_PER_REQUEST = 100


class _SampleSerializer(serializers.Serializer[Any]):
    timestamp = serializers.CharField(max_length=64)
    power = serializers.FloatField(min_value=0, max_value=1e7, help_text="W")

    def validate_timestamp(self, value: str) -> datetime:
        parsed = parse_datetime(value.strip())
        if parsed is None:
            raise serializers.ValidationError("Not an ISO-8601 date-time.")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed


class MlPeakInputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    electricity = serializers.ListField(
        child=_SampleSerializer(), allow_empty=False, max_length=MAX_SAMPLES_PER_PEAK
    )


class MlRequestInputSerializer(serializers.Serializer[Any]):
    """One peak (`electricity`, `id`) or several (`peaks`)."""

    id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    electricity = serializers.ListField(
        child=_SampleSerializer(), required=False, max_length=MAX_SAMPLES_PER_PEAK
    )
    peaks = serializers.ListField(
        child=MlPeakInputSerializer(),
        required=False,
        allow_empty=False,
        max_length=MAX_PEAKS_PER_REQUEST,
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("peaks" in attrs) == ("electricity" in attrs):
            raise serializers.ValidationError("Send either `electricity` (one peak) or `peaks`.")
        if "electricity" in attrs and not attrs["electricity"]:
            raise serializers.ValidationError({"electricity": "A peak needs at least one sample."})
        return attrs


class _DeviceOutputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="Device category key")
    confidence = RoundedNumberField(decimals=PROBABILITY, help_text="Probability 0..1")


class _PeakOutputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    devices = _DeviceOutputSerializer(many=True)


class MlOutputSerializer(serializers.Serializer[Any]):
    model_version = serializers.CharField()
    peaks = _PeakOutputSerializer(many=True)
