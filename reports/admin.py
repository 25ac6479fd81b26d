from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import AnomalyNotification, Report, ReportDay, ReportSettings


@admin.register(AnomalyNotification)
class AnomalyNotificationAdmin(admin.ModelAdmin[AnomalyNotification]):
    """Read-only: rows are written only by the anomaly mail service."""

    list_display = (
        "id",
        "user",
        "sensor",
        "sequence",
        "status",
        "skip_reason",
        "attempts",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "skip_reason")
    list_select_related = ("user", "sensor", "sequence")
    search_fields = ("user__email", "sensor__client_id")
    raw_id_fields = ("user", "sensor", "sequence")
    show_full_result_count = False
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: AnomalyNotification | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: AnomalyNotification | None = None
    ) -> bool:
        return False


class ReportDayInline(admin.TabularInline[ReportDay, Report]):
    model = ReportDay
    fields = ("day", "consumption_kwh", "goal_kwh", "exceeded", "progress_percent")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    """Read-only: reports are built only by the report service."""

    list_display = (
        "id",
        "user",
        "first_day",
        "last_day",
        "status",
        "total_consumption_kwh",
        "total_cost_eur",
        "created_at",
    )
    list_filter = ("status", "no_data_reason")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
    show_full_result_count = False
    date_hierarchy = "period_start"
    inlines = (ReportDayInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False


@admin.register(ReportSettings)
class ReportSettingsAdmin(admin.ModelAdmin[ReportSettings]):
    """Admins change a household's report settings; the form validates ranges (1-7, 0-23)."""

    list_display = ("user", "receive_mails", "interval_days", "local_hour", "last_report_at")
    list_filter = ("receive_mails", "interval_days")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")
