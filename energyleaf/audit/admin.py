from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent, Heartbeat


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only browser of the audit log."""

    list_display = ("timestamp", "title", "log_type", "app_function", "app_component", "sensor_id")
    list_filter = ("log_type", "app_component", ("timestamp", admin.DateFieldListFilter))
    search_fields = ("title",)
    ordering = ("-timestamp",)
    show_full_result_count = False
    readonly_fields = (
        "timestamp",
        "title",
        "log_type",
        "app_function",
        "app_component",
        "user",
        "sensor_id",
        "details",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin[Heartbeat]):
    """When beat and a worker last proved alive (read-only)."""

    list_display = ("name", "last_at", "beats")
    readonly_fields = ("name", "last_at", "beats")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Heartbeat | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Heartbeat | None = None) -> bool:
        return False
