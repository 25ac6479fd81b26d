"""Admin pages of sequences, devices, suggestions (with their evaluation against confirmed
devices) and power estimations.

A sequence's change page shows the sensor's power around it on the household's local time and,
for a peak, the classifier's suggestions with their probabilities: inline SVGs drawn by
analytics.compute.charts (numbers and escaped category names only, nothing from the request).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern
from django.utils.safestring import SafeString, mark_safe
from simple_history.admin import SimpleHistoryAdmin

from analytics.compute.charts import (
    ReliabilityBand,
    SuggestionBar,
    power_chart_svg,
    reliability_svg,
    suggestions_svg,
)
from analytics.models import Device, DevicePowerEstimation, DeviceSuggestion, Sequence
from analytics.selectors.charts import peak_suggestions
from analytics.selectors.devices import SUGGESTION_MIN_PROBABILITY, sensor_power_around
from analytics.selectors.suggestions import suggestion_evaluation, suggestion_model_versions
from energyleaf.common.admin import admin_view_urls, number_display
from energyleaf.common.numbers import HOURS, KWH, PROBABILITY, WATTS
from energyleaf.users.selectors import household_time_zone

CHART_MARGIN = timedelta(minutes=30)


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
        "suggestions_chart",
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

    @admin.display(description="power around the sequence (W, household's local time)")
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
            zone=household_time_zone(user_id=obj.household_key or None),
        )
        return mark_safe(svg)  # noqa: S308 - numbers and escaped texts only

    @admin.display(description="device suggestions")
    def suggestions_chart(self, obj: Sequence) -> SafeString | str:
        if obj.kind != Sequence.Kind.PEAK:
            return "—"
        shown = peak_suggestions(sequence_id=obj.pk)
        svg = suggestions_svg(
            suggestions=[
                SuggestionBar(s.label, s.probability, s.confirmed) for s in shown.suggestions
            ],
            threshold=SUGGESTION_MIN_PROBABILITY,
            model_version=shown.model_version,
        )
        return mark_safe(svg)  # noqa: S308 - numbers and escaped texts only

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
        evaluation = suggestion_evaluation(model_version=version)
        context = {
            **self.admin_site.each_context(request),
            "title": "Suggestions vs confirmed devices",
            "opts": self.model._meta,
            "versions": versions,
            "evaluation": evaluation,
            "threshold": SUGGESTION_MIN_PROBABILITY,
            "reliability_chart": mark_safe(  # noqa: S308 - numbers and escaped texts only
                reliability_svg(
                    bands=[
                        ReliabilityBand(band.low, band.high, band.suggestions, band.confirmed)
                        for band in evaluation.bands
                    ],
                    threshold=SUGGESTION_MIN_PROBABILITY,
                )
            ),
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
