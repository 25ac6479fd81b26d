"""Admin pages of sequences, devices, suggestions (with their evaluation against confirmed
devices) and power estimations.

A sequence's change page shows the sensor's power around it as an inline SVG built here from
numbers only (no user text in the SVG, nothing from the request).
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from datetime import datetime, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern
from django.utils.safestring import SafeString, mark_safe
from simple_history.admin import SimpleHistoryAdmin

from analytics.models import Device, DevicePowerEstimation, DeviceSuggestion, Sequence
from analytics.selectors.devices import SUGGESTION_MIN_PROBABILITY, PowerPoint, sensor_power_around
from analytics.selectors.suggestions import suggestion_evaluation, suggestion_model_versions
from energyleaf.common.admin import admin_view_urls, number_display
from energyleaf.common.numbers import HOURS, KWH, PROBABILITY, WATTS

CHART_MARGIN = timedelta(minutes=30)
CHART_WIDTH = 720
CHART_HEIGHT = 220
CHART_PADDING = 40


def power_chart_svg(
    *,
    points: SequenceOf[PowerPoint],
    window_start: datetime,
    window_end: datetime,
    highlight_start: datetime,
    highlight_end: datetime,
) -> str:
    """An SVG line chart of power (W) over [window_start, window_end] with the highlighted span
    shaded. Everything written into the SVG is a formatted number."""
    span = (window_end - window_start).total_seconds() or 1.0
    top = max((point.power_w for point in points), default=0.0)
    bottom = min((point.power_w for point in points), default=0.0)
    top = max(top, 0.0)
    bottom = min(bottom, 0.0)
    height = (top - bottom) or 1.0
    inner_w = CHART_WIDTH - 2 * CHART_PADDING
    inner_h = CHART_HEIGHT - 2 * CHART_PADDING

    def x_of(moment: datetime) -> float:
        fraction = (moment - window_start).total_seconds() / span
        return CHART_PADDING + min(max(fraction, 0.0), 1.0) * inner_w

    def y_of(power: float) -> float:
        return CHART_PADDING + (top - power) / height * inner_h

    x1, x2 = x_of(highlight_start), x_of(highlight_end)
    polyline = " ".join(f"{x_of(p.timestamp):.1f},{y_of(p.power_w):.1f}" for p in points)
    baseline = y_of(0.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img">',
        f'<rect x="{x1:.1f}" y="{CHART_PADDING}" width="{max(x2 - x1, 1.0):.1f}" '
        f'height="{inner_h}" fill="#fde68a"/>',
        f'<line x1="{CHART_PADDING}" y1="{baseline:.1f}" x2="{CHART_WIDTH - CHART_PADDING}" '
        f'y2="{baseline:.1f}" stroke="#9ca3af"/>',
        f'<polyline points="{polyline}" fill="none" stroke="#2563eb" stroke-width="1.5"/>',
        f'<text x="4" y="{CHART_PADDING:d}" font-size="11">{top:.0f} W</text>',
        f'<text x="4" y="{baseline:.1f}" font-size="11">0 W</text>',
        "</svg>",
    ]
    return "".join(parts)


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin[Sequence]):
    """Detected peaks and anomalies per sensor, read-only, with a chart of the power around."""

    list_display = ("sensor", "kind", "start", "end", "average_peak_power")
    list_filter = ("kind", ("start", admin.DateFieldListFilter))
    search_fields = ("sensor__client_id",)
    list_select_related = ("sensor",)
    ordering = ("-start",)
    show_full_result_count = False
    fields = (
        "sensor",
        "kind",
        "start",
        "end",
        "average_power",
        "average_peak_power",
        "energy",
        "base_load",
        "detected_at",
        "updated_at",
        "power_chart",
    )
    readonly_fields = fields
    average_power = number_display(
        "average_power_w", decimals=WATTS, description="average power (W)"
    )
    average_peak_power = number_display(
        "average_peak_power_w", decimals=WATTS, description="average peak power (W)"
    )
    energy = number_display("energy_kwh", decimals=KWH, description="energy (kWh)")
    base_load = number_display("base_load_w", decimals=WATTS, description="base load (W)")

    @admin.display(description="power around the sequence (W)")
    def power_chart(self, obj: Sequence) -> SafeString:
        points = sensor_power_around(
            sensor_id=obj.sensor_id,
            start=obj.start,
            end=obj.end,
            margin=CHART_MARGIN,
            household_key=obj.household_key or None,
        )
        svg = power_chart_svg(
            points=points,
            window_start=obj.start - CHART_MARGIN,
            window_end=obj.end + CHART_MARGIN,
            highlight_start=obj.start,
            highlight_end=obj.end,
        )
        return mark_safe(svg)  # noqa: S308 - built from formatted numbers only

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Sequence | None = None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(SimpleHistoryAdmin):  # type: ignore[misc]
    """Households' devices with their (estimated) power; changes are kept in the history."""

    list_display = (
        "name",
        "category",
        "user",
        "power",
        "is_power_estimated",
        "weekly_usage",
        "updated_at",
    )
    power = number_display("power_w", decimals=WATTS, description="power (W)")
    weekly_usage = number_display(
        "weekly_usage_hours", decimals=HOURS, description="weekly usage (h)"
    )
    list_filter = ("category", "is_power_estimated")
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")
    show_full_result_count = False


@admin.register(DeviceSuggestion)
class DeviceSuggestionAdmin(admin.ModelAdmin[DeviceSuggestion]):
    """The classifier's category suggestions per peak, read-only."""

    list_display = ("sequence", "category", "probability_shown", "model_version", "created_at")
    list_filter = ("category", "model_version")
    list_select_related = ("sequence",)
    raw_id_fields = ("sequence",)
    ordering = ("-created_at",)
    show_full_result_count = False
    readonly_fields = ("sequence", "category", "probability_shown", "model_version", "created_at")
    fields = readonly_fields
    probability_shown = number_display(
        "probability", decimals=PROBABILITY, description="probability"
    )
    change_list_template = "admin/analytics/devicesuggestion/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:  # type: ignore[override]
        own = admin_view_urls(
            self, ("evaluation/", self.evaluation_view, "analytics_suggestion_evaluation")
        )
        return own + super().get_urls()  # type: ignore[operator]

    def evaluation_view(self, request: HttpRequest) -> HttpResponse:
        """Suggestions against confirmed devices per category and probability band."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        versions = suggestion_model_versions()
        wanted = request.GET.get("model_version")
        version = wanted if wanted in versions else (versions[0] if versions else None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Suggestions vs confirmed devices",
            "opts": self.model._meta,
            "versions": versions,
            "evaluation": suggestion_evaluation(model_version=version),
            "threshold": SUGGESTION_MIN_PROBABILITY,
        }
        return TemplateResponse(request, "admin/analytics/suggestion_evaluation.html", context)

    def has_change_permission(
        self, request: HttpRequest, obj: DeviceSuggestion | None = None
    ) -> bool:
        return False


@admin.register(DevicePowerEstimation)
class DevicePowerEstimationAdmin(admin.ModelAdmin[DevicePowerEstimation]):
    """Runs of the device power estimation per household, read-only."""

    list_display = ("user", "quality", "r_squared_shown", "peaks_used", "created_at")
    list_filter = ("quality",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    ordering = ("-created_at",)
    show_full_result_count = False
    readonly_fields = ("user", "r_squared_shown", "quality", "peaks_used", "created_at")
    fields = readonly_fields
    r_squared_shown = number_display("r_squared", decimals=PROBABILITY, description="R²")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: DevicePowerEstimation | None = None
    ) -> bool:
        return False
