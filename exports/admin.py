"""Back office: the record of participant exports (read-only; marking happens through the API)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ExperimentExportMark


@admin.register(ExperimentExportMark)
class ExperimentExportMarkAdmin(admin.ModelAdmin[ExperimentExportMark]):
    list_display = ("participation", "exported_by", "exported_at")
    list_filter = ("exported_at",)
    list_select_related = ("participation__user", "exported_by")
    search_fields = ("participation__user__email",)
    readonly_fields = ("participation", "exported_by", "exported_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
