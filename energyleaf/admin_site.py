"""The admin pages whose actions reach past their own app: a sensor's change of household and a
household's deletion also touch analytics' rollups and peaks; a household's change page shows
its consumption charts, drawn from analytics' data.

`sensors.admin.SensorAdmin` and `energyleaf.users.admin.accounts.UserAdmin` keep their pages; the
subclasses here fill in the steps that need analytics' services. An app may not use another
app's admin, nor a lower app a higher one, so this wiring lives at the project level, beside the
URL configuration: `energyleaf.apps.AdminConfig` replaces the two registrations once every app's
admin has registered (docs/design.md, "Explicit calls instead of signals").
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from analytics.compute.charts import (
    DayBar,
    QuarterHour,
    daily_bars_svg,
    day_label,
    quarter_hours_svg,
)
from analytics.selectors.charts import HOUSEHOLD_CHART_DAYS, household_consumption_chart
from analytics.services.assignments import sensor_reassign, sensor_reset_with_rollups
from analytics.services.households import households_delete
from energyleaf.users.admin.accounts import UserAdmin
from energyleaf.users.models import User
from sensors.admin import SensorAdmin
from sensors.models import Sensor
from sensors.services import SensorResetResult


class SensorWithRollupsAdmin(SensorAdmin):
    """The sensors' admin; assigning and resetting also rebuild the rollups."""

    def assign_household(self, request: HttpRequest, sensor: Sensor, user: Any) -> None:
        sensor_reassign(sensor=sensor, user=user, actor_id=request.user.pk)

    def reset_sensor(
        self, request: HttpRequest, sensor: Sensor, *, delete_readings: bool
    ) -> SensorResetResult:
        return sensor_reset_with_rollups(
            sensor=sensor, delete_readings=delete_readings, actor_id=request.user.pk
        )


class HouseholdUserAdmin(UserAdmin):
    """The users' admin; deleting asks about the readings and deletes with
    `households_delete`; a household's page shows its electricity consumption: the last 14
    local days as bars, and the last 24 hours per 15 minutes with the detected peaks."""

    deletes_households = True

    # Consumption is study data: shown to those who may read the rollups (researchers,
    # administrators), not to support staff, who see accounts only to pick a sensor's household.
    CHART_PERMISSION = "analytics.view_consumptionrollup"

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not request.user.has_perm(self.CHART_PERMISSION):
            return fieldsets
        return [*fieldsets, ("Consumption", {"fields": ("consumption_charts",)})]

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and "consumption_charts" not in fields:
            fields += ("consumption_charts",)
        return fields

    @admin.display(description="electricity consumption")
    def consumption_charts(self, obj: User) -> SafeString:
        data = household_consumption_chart(user_id=obj.pk)
        if not data.has_sensor:
            return format_html(
                '<p class="no-data">{}</p>', "No electricity sensor yet: no consumption to show."
            )
        daily = daily_bars_svg(
            days=[DayBar(day_label(d.day), float(d.kwh), d.partial) for d in data.days]
        )
        quarter_hours = quarter_hours_svg(
            buckets=[QuarterHour(start, float(kwh)) for start, kwh in data.quarter_hours.items()],
            peaks=data.peaks,
            window_start=data.window_start,
            window_end=data.window_end,
            zone=data.zone,
        )
        return format_html(
            '<div class="consumption-charts"><p>Last {} days, local time ({}):</p>{}'
            "<p>Last 24 hours per 15 minutes (rollups), with the detected peaks:</p>{}</div>",
            HOUSEHOLD_CHART_DAYS,
            data.zone.key,
            mark_safe(daily),  # noqa: S308 - numbers and escaped texts only
            mark_safe(quarter_hours),  # noqa: S308 - numbers and escaped texts only
        )

    def delete_households(
        self, request: HttpRequest, users: list[User], *, keep_readings: bool
    ) -> int:
        return households_delete(users=users, keep_readings=keep_readings, actor_id=request.user.pk)


def register_cross_app_pages() -> None:
    """Replace the sensors' and users' admin registrations with the subclasses above."""
    for model, model_admin in ((Sensor, SensorWithRollupsAdmin), (User, HouseholdUserAdmin)):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
