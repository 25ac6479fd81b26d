"""The audit log and the beat schedule (django-celery-beat's periodic tasks) in the admin."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_celery_beat import admin as celery_beat_admin
from django_celery_beat.models import PeriodicTask

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


def _with_change_permission(action: Callable[..., Any]) -> Callable[..., Any]:
    """django-celery-beat's action wrapped to require the change permission (its own actions
    declare none, so anyone who may view the schedule could run or switch every task)."""

    @functools.wraps(action)
    def wrapped(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
        if not modeladmin.has_change_permission(request):
            raise PermissionDenied
        return action(modeladmin, request, queryset)

    wrapped.allowed_permissions = ("change",)  # type: ignore[attr-defined]
    return wrapped


class PeriodicTaskAdmin(celery_beat_admin.PeriodicTaskAdmin):  # type: ignore[misc]
    """The beat schedule (django-celery-beat's admin): enabling, disabling, toggling and running
    tasks needs the permission to change periodic tasks."""

    enable_tasks = _with_change_permission(celery_beat_admin.PeriodicTaskAdmin.enable_tasks)
    disable_tasks = _with_change_permission(celery_beat_admin.PeriodicTaskAdmin.disable_tasks)
    toggle_tasks = _with_change_permission(celery_beat_admin.PeriodicTaskAdmin.toggle_tasks)
    run_tasks = _with_change_permission(celery_beat_admin.PeriodicTaskAdmin.run_tasks)


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
