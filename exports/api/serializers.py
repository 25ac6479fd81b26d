"""Input of the CSV export endpoints (the files themselves are written by the selectors)."""

from __future__ import annotations

from rest_framework import serializers

from energyleaf.common.fields import DateOrDateTimeField
from energyleaf.users.models import ExperimentParticipation


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
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        allow_empty=False,
        max_length=10_000,
    )


class ExperimentExportMarkOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    user_id = serializers.IntegerField(source="participation.user_id")
    status = serializers.CharField(source="participation.status")
    exported_by = serializers.IntegerField(source="exported_by_id")
    exported_at = serializers.DateTimeField()
