"""Serializers of the household report API."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import EUR, KWH, PERCENT
from reports.compute.charts import HEIGHT_PX, WIDTH_PX, chart_names

from ..models import Report, ReportDay, ReportSettings
from ..services.report_mails import report_chart_days

REPORT_FIELDS: tuple[str, ...] = (
    "id",
    "period_start",
    "period_end",
    "first_day",
    "last_day",
    "time_zone",
    "status",
    "no_data_reason",
    "total_consumption_kwh",
    "average_daily_consumption_kwh",
    "total_cost_eur",
    "average_daily_cost_eur",
    "best_day",
    "best_day_consumption_kwh",
    "worst_day",
    "worst_day_consumption_kwh",
    "created_at",
)


class ReportSettingsUpdateInputSerializer(serializers.Serializer[None]):
    """Any subset of the settings; `local_hour` is an hour of the household's time zone."""

    receive_mails = serializers.BooleanField(required=False)
    interval_days = serializers.IntegerField(required=False, min_value=1, max_value=7)
    local_hour = serializers.IntegerField(required=False, min_value=0, max_value=23)


class ReportSettingsOutputSerializer(serializers.ModelSerializer[ReportSettings]):
    class Meta:
        model = ReportSettings
        fields = ("receive_mails", "interval_days", "local_hour", "last_report_at")
        read_only_fields = fields


class ReportOutputSerializer(serializers.ModelSerializer[Report]):
    """A report without its days (the listing)."""

    # A plain string in the schema: a `status` enum would collide with other apps' by name.
    status = serializers.CharField(read_only=True, help_text="`ok`, or `no_data` (see reason).")
    total_consumption_kwh = RoundedNumberField(decimals=KWH, allow_null=True)
    average_daily_consumption_kwh = RoundedNumberField(decimals=KWH, allow_null=True)
    total_cost_eur = RoundedNumberField(decimals=EUR, allow_null=True)
    average_daily_cost_eur = RoundedNumberField(decimals=EUR, allow_null=True)
    best_day_consumption_kwh = RoundedNumberField(decimals=KWH, allow_null=True)
    worst_day_consumption_kwh = RoundedNumberField(decimals=KWH, allow_null=True)

    class Meta:
        model = Report
        fields = REPORT_FIELDS
        read_only_fields = fields


class ReportDayOutputSerializer(serializers.ModelSerializer[ReportDay]):
    consumption_kwh = RoundedNumberField(decimals=KWH)
    cost_eur = RoundedNumberField(decimals=EUR, allow_null=True)
    goal_kwh = RoundedNumberField(decimals=KWH, allow_null=True)
    progress_percent = RoundedNumberField(decimals=PERCENT, allow_null=True)

    class Meta:
        model = ReportDay
        fields = ("day", "consumption_kwh", "cost_eur", "goal_kwh", "exceeded", "progress_percent")
        read_only_fields = fields


class ReportChartOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """A chart of the report: a PNG at `url` (same JWT), rendered on request, the same bytes for
    the same report every time."""

    name = serializers.CharField(help_text="`consumption` (always) or `cost` (with a price).")
    url = serializers.URLField()
    content_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class ReportDetailOutputSerializer(ReportOutputSerializer):
    """A report with its day statistics and its charts."""

    days = ReportDayOutputSerializer(many=True, read_only=True)
    charts = serializers.SerializerMethodField()

    class Meta(ReportOutputSerializer.Meta):
        fields = (*REPORT_FIELDS, "days", "charts")
        read_only_fields = fields

    @extend_schema_field(ReportChartOutputSerializer(many=True))
    def get_charts(self, report: Report) -> list[dict[str, Any]]:
        if report.status != Report.Status.OK:
            return []
        request = self.context.get("request")
        charts = []
        for name in chart_names(report_chart_days(days=report.days.all())):
            path = reverse(
                "reports_api:report-chart", kwargs={"report_id": report.pk, "name": name}
            )
            charts.append(
                {
                    "name": name,
                    "url": request.build_absolute_uri(path) if request is not None else path,
                    "content_type": "image/png",
                    "width": WIDTH_PX,
                    "height": HEIGHT_PX,
                }
            )
        return charts


class ReportGenerateOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """The answer to "generate my report now"."""

    created = serializers.BooleanField(
        help_text="False when the period's report was stored already (it is not mailed again)."
    )
    mail_status = serializers.CharField(
        source="report.mail_status",
        help_text="`pending` (being mailed), `sent`, `failed` or `skipped` (see the reason).",
    )
    mail_skip_reason = serializers.CharField(
        source="report.mail_skip_reason",
        help_text="Why it is not mailed: `opted_out`, `no_email`, `no_data`; empty otherwise.",
    )
    report = ReportDetailOutputSerializer()
