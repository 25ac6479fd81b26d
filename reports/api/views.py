"""The household's own reports and report settings (admins use the admin site)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NoReturn, cast

from django.conf import settings as django_settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from energyleaf.common.throttling import rate_limit_hit
from reports.selectors.reports import report_get, report_list, report_settings_current

from ..services.report_mails import report_chart_for_user
from ..services.reports import report_generate_on_request, report_settings_update
from .serializers import (
    ReportDetailOutputSerializer,
    ReportGenerateOutputSerializer,
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
        return Response(ReportDetailOutputSerializer(report, context={"request": request}).data)


class ReportNowThrottle(BaseThrottle):
    """ "Generate my report now" per household: ENERGYLEAF_REPORT_NOW_RATE (1/hour unless set),
    counted atomically in the shared cache (`energyleaf.common.throttling`). Every admitted
    request counts, a report built or not."""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.wait_seconds = rate_limit_hit(
            ident=f"report_now:{request.user.pk}",
            rate=str(django_settings.ENERGYLEAF_REPORT_NOW_RATE),
        )
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


class ReportGenerateView(APIView):
    """ "Generate my report now": the household's report for its current period (the last
    `interval_days` full local days), with the same figures and mail as the scheduled report.
    201 when built, 200 when the period's report existed (not mailed again), 409
    `report_no_data` when it would have no data (nothing stored), 404 `no_household`, 429 with
    Retry-After beyond the rate limit."""

    throttle_classes = (ReportNowThrottle,)

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise Throttled(wait=wait, detail="Your report can be generated once an hour.")

    @extend_schema(
        request=None,
        responses={
            200: ReportGenerateOutputSerializer,
            201: ReportGenerateOutputSerializer,
            404: OpenApiResponse(description="`no_household`: the account has no household"),
            409: OpenApiResponse(
                description="`report_no_data`: no data for the period (`extra.reason`)"
            ),
            429: OpenApiResponse(description="Rate-limited; see Retry-After"),
        },
        operation_id="reports_generate",
    )
    def post(self, request: Request) -> Response:
        result = report_generate_on_request(user_id=cast(int, request.user.pk), now=timezone.now())
        body = ReportGenerateOutputSerializer(
            {"created": result.created, "report": result.report}, context={"request": request}
        ).data
        return Response(body, status=201 if result.created else 200)


class JSONErrorsNegotiation(BaseContentNegotiation):
    """The PNG view answers image/png itself; whatever the client accepts, errors are rendered
    with the first renderer (JSON) instead of a 406."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class ReportChartView(APIView):
    """A chart of one of the household's reports as PNG (600 x 300 px), in the household's mail
    language; 404 for another household's report or a chart the report does not have."""

    content_negotiation_class = JSONErrorsNegotiation

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG image"),
            404: OpenApiResponse(description="No such report of the household, or no such chart"),
        },
        operation_id="reports_chart",
    )
    def get(self, request: Request, report_id: int, name: str) -> HttpResponse:
        png = report_chart_for_user(
            user_id=cast(int, request.user.pk), report_id=report_id, name=name
        )
        response = HttpResponse(png, content_type="image/png")
        # The bytes of a report's chart never change: cache privately, validate by hash.
        response["Cache-Control"] = "private, max-age=86400"
        response["ETag"] = f'"{hashlib.sha256(png).hexdigest()[:32]}"'
        return response
