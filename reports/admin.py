from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import AnomalyNotification


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
