"""CSV downloads: a household's meter data and the participant list for the survey tool."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import cast

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from energyleaf.common.permissions import HasModelPermission, has_model_permissions
from energyleaf.users.models import User
from exports import selectors, services

from .serializers import (
    EnergyExportInputSerializer,
    ExperimentExportInputSerializer,
    ExperimentExportMarkOutputSerializer,
    ExperimentMarkExportedInputSerializer,
)

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
_CSV_RESPONSE = OpenApiResponse(OpenApiTypes.BINARY, description="text/csv attachment")


def _csv_response(blocks: Iterator[bytes], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(blocks, content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _name_part(value: date | datetime) -> str:
    return value.isoformat().replace(":", "")


class EnergyExportView(APIView):
    """The household's readings in [start, end) as CSV (streamed, no row cap). Plain dates are
    local days of the household (`end` included), datetimes need an offset. Columns: the
    reference's six, then `Qualitätsflags` (bit set) and `Qualität` (flag names joined by `|`);
    `resolution=hour|day` gives local periods instead. Staff who may view readings
    (`sensors.view_reading`) may pass another household's `user` or `sensor`."""

    @extend_schema(
        parameters=[EnergyExportInputSerializer],
        responses={200: _CSV_RESPONSE},
        operation_id="csv_energy_retrieve",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        given = EnergyExportInputSerializer(data=request.query_params)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        may_read_all = has_model_permissions(request.user, "sensors.view_reading")
        target = selectors.energy_export_target(
            requester_id=cast(int, request.user.pk),
            may_read_all=may_read_all,
            user_id=data.get("user"),
            sensor_id=data.get("sensor"),
        )
        start, end = selectors.energy_export_range(
            start=data["start"], end=data["end"], time_zone=target.time_zone, unlimited=may_read_all
        )
        blocks = selectors.energy_csv_blocks(
            sensor_id=target.sensor_id,
            start=start,
            end=end,
            resolution=data["resolution"],
            time_zone=target.time_zone,
            local_times=data["tz"] == "local",
            user_id=target.user_id,
        )
        filename = (
            f"energy_{target.user_id}_{_name_part(data['start'])}_{_name_part(data['end'])}.csv"
        )
        return _csv_response(blocks, filename)


class ExperimentExportView(APIView):
    """Participants for the survey tool as CSV (staff holding
    `exports.download_experiment_csv`). Changes nothing: marking them as exported is
    `POST csv_experiment/mark_exported`."""

    permission_classes = (HasModelPermission.of("exports.download_experiment_csv"),)

    @extend_schema(
        parameters=[ExperimentExportInputSerializer],
        responses={200: _CSV_RESPONSE},
        operation_id="csv_experiment_retrieve",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        given = ExperimentExportInputSerializer(data=request.query_params)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        status = None if data["all_statuses"] else data["status"]
        blocks = selectors.experiment_csv_blocks(status=status)
        return _csv_response(blocks, f"experiment_{status or 'all'}.csv")


class ExperimentMarkExportedView(APIView):
    """Mark participants as exported (staff holding `exports.add_experimentexportmark`);
    records who and when."""

    permission_classes = (HasModelPermission.of("exports.add_experimentexportmark"),)

    @extend_schema(
        request=ExperimentMarkExportedInputSerializer,
        responses=ExperimentExportMarkOutputSerializer(many=True),
        operation_id="csv_experiment_mark_exported",
    )
    def post(self, request: Request) -> Response:
        given = ExperimentMarkExportedInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        marks = services.experiment_participants_mark_exported(
            user_ids=given.validated_data["user_ids"], actor=cast(User, request.user)
        )
        return Response(ExperimentExportMarkOutputSerializer(marks, many=True).data)
