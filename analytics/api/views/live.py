"""The household's live figure and its sensors' health (own data only, any logged-in user)."""

from __future__ import annotations

from typing import cast

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers.live import LiveOutputSerializer, SensorHealthOutputSerializer
from analytics.selectors.live import household_live, household_sensor_health


class LiveView(APIView):
    """Current power of the household's electricity sensor and today's consumption so far (its
    local day), from the newest readings and today's rollups; meant to be polled every 15 s."""

    @extend_schema(responses=LiveOutputSerializer, operation_id="live_get")
    def get(self, request: Request) -> Response:
        figure = household_live(user_id=cast(int, request.user.pk), now=timezone.now())
        response = Response(LiveOutputSerializer(figure).data)
        response["Cache-Control"] = "private, max-age=10"
        return response


class SensorHealthListView(APIView):
    """The sensors the household holds: last reading and share of today's expected readings."""

    @extend_schema(
        responses=SensorHealthOutputSerializer(many=True), operation_id="sensor_health_list"
    )
    def get(self, request: Request) -> Response:
        rows = household_sensor_health(user_id=cast(int, request.user.pk), now=timezone.now())
        return Response(SensorHealthOutputSerializer(rows, many=True).data)
