"""The fleet-health admin view for researchers.

Registered on the ConsumptionRollup admin (its rows are what the view counts): the "Consumption
rollups" entry of the admin index opens the fleet-health page, which is also reachable as
`admin:analytics_fleet_health`. Rollups are maintained by the refresh task, never edited here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from analytics.compute.charts import CoverageRow, coverage_heatmap_svg, day_label
from analytics.models import ConsumptionRollup
from analytics.selectors.charts import fleet_daily_coverage
from analytics.selectors.fleet import fleet_health
from energyleaf.common.admin import admin_view_urls


@admin.register(ConsumptionRollup)
class FleetHealthAdmin(admin.ModelAdmin[ConsumptionRollup]):
    """Fleet health (per sensor: last seen, share of expected readings, gaps, rejections), with
    a heatmap of the share per sensor and UTC day."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:  # type: ignore[override]
        own = admin_view_urls(
            self, ("fleet-health/", self.fleet_health_view, "analytics_fleet_health")
        )
        return own + super().get_urls()  # type: ignore[operator]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)
        return HttpResponseRedirect(reverse("admin:analytics_fleet_health"))

    def fleet_health_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        now = timezone.now()
        sensors = fleet_health(now=now)
        coverage = fleet_daily_coverage(now=now)
        heatmap = coverage_heatmap_svg(
            rows=[CoverageRow(s.client_id, coverage.of(s.sensor_id)) for s in sensors],
            days=[day_label(day) for day in coverage.days],
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Fleet health",
            "opts": self.model._meta,
            "now": now,
            "sensors": sensors,
            "coverage_heatmap": mark_safe(heatmap),  # noqa: S308 - numbers and escaped texts
        }
        return TemplateResponse(request, "admin/analytics/fleet_health.html", context)
