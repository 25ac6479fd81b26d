"""Serializers of the household's live figure and of its sensors' health."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.api.serializers.aggregates import LocalDateTimeField
from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import KWH, PROBABILITY, WATTS


class LiveOutputSerializer(serializers.Serializer[Any]):
    """Current power and today's consumption so far; times with the household's offset."""

    time_zone = serializers.CharField()
    sensor = serializers.IntegerField(
        source="sensor_id", allow_null=True, help_text="The electricity sensor held now."
    )
    power_w = RoundedNumberField(
        decimals=WATTS, allow_null=True, help_text="W at `power_at`; null without a reading."
    )
    power_at = LocalDateTimeField(allow_null=True)
    day_start = LocalDateTimeField(help_text="Local midnight of today.")
    today_consumption_kwh = RoundedNumberField(decimals=KWH)
    counted_until = LocalDateTimeField(
        help_text="Today's consumption counts up to here (now unless the rollups are behind)."
    )


class SensorHealthOutputSerializer(serializers.Serializer[Any]):
    """One sensor the household holds; times with the household's offset."""

    sensor = serializers.IntegerField(source="sensor_id")
    client_id = serializers.CharField()
    sensor_type = serializers.CharField()
    held_since = LocalDateTimeField(allow_null=True)
    last_reading_at = LocalDateTimeField(allow_null=True)
    readings_today = serializers.IntegerField()
    expected_today = serializers.IntegerField(help_text="One per 15 s of today so far.")
    share_today = RoundedNumberField(
        decimals=PROBABILITY, allow_null=True, help_text="readings / expected, 0-1."
    )
