"""The household's own reports and report settings (admins use the admin site)."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors_reports import report_get, report_list, report_settings_current
from ..services.reports import report_settings_update
from .serializers import (
    ReportDetailOutputSerializer,
    ReportOutputSerializer,
    ReportSettingsOutputSerializer,
    ReportSettingsUpdateInputSerializer,
)


class ReportSettingsView(APIView):
    """GET the household's report settings (defaults until changed); PATCH any of them."""

    @extend_schema(responses=ReportSettingsOutputSerializer, operation_id="report_settings_get")
    def get(self, request: Request) -> Response:
        settings = report_settings_current(user_id=cast(int, request.user.pk))
        return Response(ReportSettingsOutputSerializer(settings).data)

    @extend_schema(
        request=ReportSettingsUpdateInputSerializer,
        responses=ReportSettingsOutputSerializer,
        operation_id="report_settings_update",
    )
    def patch(self, request: Request) -> Response:
        given = ReportSettingsUpdateInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        settings = report_settings_update(
            user_id=cast(int, request.user.pk), **given.validated_data
        )
        return Response(ReportSettingsOutputSerializer(settings).data)


class ReportListView(APIView):
    """The household's reports, newest period first, without day statistics."""

    @extend_schema(responses=ReportOutputSerializer(many=True), operation_id="reports_list")
    def get(self, request: Request) -> Response:
        reports = report_list(user_id=cast(int, request.user.pk))
        return Response(ReportOutputSerializer(reports, many=True).data)


class ReportDetailView(APIView):
    """One of the household's reports with its day statistics; 404 for anyone else's."""

    @extend_schema(responses=ReportDetailOutputSerializer, operation_id="reports_get")
    def get(self, request: Request, report_id: int) -> Response:
        report = report_get(user_id=cast(int, request.user.pk), report_id=report_id)
        return Response(ReportDetailOutputSerializer(report).data)
