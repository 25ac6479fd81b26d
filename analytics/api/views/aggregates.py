"""Household aggregates: consumption, feed-in and power per local hour, day, week or month."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers.aggregates import (
    AggregateListInputSerializer,
    AggregateListOutputSerializer,
)
from analytics.selectors.aggregates import aggregate_target, consumption_aggregates
from energyleaf.common.permissions import has_model_permissions

# Longest range per resolution, so one request stays a bounded amount of work.
MAX_RANGE = {
    "hour": timedelta(days=400),
    "day": timedelta(days=3700),
    "week": timedelta(days=3700),
    "month": timedelta(days=3700),
}


class AggregateListView(APIView):
    """Aggregates of the household's electricity sensor (or `sensor`; `user` for staff who may
    view rollups) per local period. Plain dates are local days of the household (`end`
    included); datetimes need an offset. Periods are whole: the first holds `start`, the last
    the instant before `end`."""

    @extend_schema(
        parameters=[AggregateListInputSerializer],
        responses=AggregateListOutputSerializer,
        operation_id="aggregates_list",
    )
    def get(self, request: Request) -> Response:
        given = AggregateListInputSerializer(data=request.query_params)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        target = aggregate_target(
            requester_id=cast(int, request.user.pk),
            may_read_all=has_model_permissions(request.user, "analytics.view_consumptionrollup"),
            user_id=data.get("user"),
            sensor_id=data.get("sensor"),
        )
        zone = ZoneInfo(target.time_zone)
        start = _instant(data["start"], zone, end=False)
        end = _instant(data["end"], zone, end=True)
        if end <= start:
            raise serializers.ValidationError({"end": ["end must be after start."]})
        if end - start > MAX_RANGE[data["resolution"]]:
            raise serializers.ValidationError(
                {"end": [f"At most {MAX_RANGE[data['resolution']].days} days per request."]}
            )
        rows = consumption_aggregates(
            sensor_id=target.sensor_id,
            start=start,
            end=end,
            resolution=data["resolution"],
            time_zone=target.time_zone,
            household_key=target.household_key,
        )
        payload = {
            "sensor": target.sensor_id,
            "time_zone": target.time_zone,
            "resolution": data["resolution"],
            "start": start.astimezone(zone),
            "end": end.astimezone(zone),
            "results": rows,
        }
        return Response(AggregateListOutputSerializer(payload).data)


def _instant(value: date | datetime, zone: ZoneInfo, *, end: bool) -> datetime:
    """A UTC instant from a datetime with offset, or from a local day (its start; for `end`,
    the start of the next day, so the day is included)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
