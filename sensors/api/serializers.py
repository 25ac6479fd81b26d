"""Input validation of the JSON form of the batch upload."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers


class BatchInputSerializer(serializers.Serializer[dict[str, Any]]):
    """`{"access_token": str, "readings": [{"value": number, "value_current"?: number,
    "value_out"?: number, "timestamp"?: integer (s/ms/µs/ns) or ISO 8601 text with offset}]}`.

    Readings are checked with a plain loop rather than nested serializers: a batch holds tens of
    thousands of them.
    """

    access_token = serializers.CharField(max_length=64, trim_whitespace=False)
    type = serializers.IntegerField(required=False, min_value=0, max_value=3)
    readings = serializers.ListField(child=serializers.DictField(), allow_empty=False)

    def validate_readings(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cleaned = []
        for position, item in enumerate(items):
            unknown = set(item) - {"value", "value_current", "value_out", "timestamp"}
            if unknown:
                raise serializers.ValidationError(
                    f"readings[{position}]: unknown {sorted(unknown)}"
                )
            cleaned.append(
                {
                    "value": _number(item.get("value"), position, "value", required=True),
                    "value_current": _number(item.get("value_current"), position, "value_current"),
                    "value_out": _number(item.get("value_out"), position, "value_out"),
                    "timestamp": _timestamp(item.get("timestamp"), position),
                }
            )
        return cleaned


def _number(value: Any, position: int, name: str, *, required: bool = False) -> float | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise serializers.ValidationError(f"readings[{position}].{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise serializers.ValidationError(f"readings[{position}].{name} must be finite")
    return number


def _timestamp(value: Any, position: int) -> int | str | None:
    if value is None or (isinstance(value, str) and len(value) <= 64):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**64:
        return value
    raise serializers.ValidationError(
        f"readings[{position}].timestamp must be a positive integer or an ISO 8601 text"
    )


class SensorSettingsInputSerializer(serializers.Serializer[dict[str, Any]]):
    """What support staff may change of a sensor; a field left out keeps its value."""

    script = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=665,
        help_text="Tasmota SML script, at most 665 bytes (UTF-8); empty for none.",
    )
    analog_rotations_per_kwh = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2_147_483_647,
        help_text="Ferraris disc revolutions per kWh (analog meters, instead of a script); "
        "null for none.",
    )
    needs_script = serializers.BooleanField(
        required=False,
        help_text="Deliver script or rotations on the sensor's next token request. Left out, it "
        "is set when the script or the rotations change.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            message = "Unknown field: give script, analog_rotations_per_kwh or needs_script."
            raise serializers.ValidationError(dict.fromkeys(unknown, message))
        if not attrs:
            raise serializers.ValidationError("Give at least one setting to change.")
        return attrs


class SensorSettingsOutputSerializer(serializers.Serializer[Any]):
    """A sensor's settings after the change."""

    id = serializers.IntegerField()
    client_id = serializers.CharField(help_text="MAC address.")
    sensor_type = serializers.CharField()
    script = serializers.CharField()
    analog_rotations_per_kwh = serializers.IntegerField(allow_null=True)
    needs_script = serializers.BooleanField()
    updated_at = serializers.DateTimeField()
