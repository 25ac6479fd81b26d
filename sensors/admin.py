from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from energyleaf.common.admin import EstimatedCountPaginator

from . import selectors, services
from .models import (
    MeterEvent,
    Reading,
    ReadingFlag,
    RejectedReading,
    Sensor,
    SensorAssignment,
    SensorToken,
)


class SensorAssignmentInline(admin.TabularInline[SensorAssignment, Sensor]):
    """The sensor's households over time (read-only: assigning, resetting and deleting a
    household write them)."""

    model = SensorAssignment
    fields = ("user", "household_key", "valid_from", "valid_to")
    readonly_fields = fields
    ordering = ("-valid_from",)
    extra = 0
    can_delete = False
    verbose_name = "assignment period"

    def has_add_permission(self, request: HttpRequest, obj: Sensor | None = None) -> bool:
        return False

    def has_change_permission(
        self,
        request: HttpRequest,
        obj: Sensor | None = None,  # type: ignore[override]
    ) -> bool:
        return False


@admin.register(Sensor)
class SensorAdmin(SimpleHistoryAdmin[Sensor]):
    """Sensors with household, last reading, script; assign, reset and revoke from here."""

    list_display = (
        "client_id",
        "sensor_type",
        "user",
        "needs_script",
        "last_reading_at",
        "last_reading_value",
        "live_tokens",
    )
    list_filter = ("sensor_type", "needs_script", ("user", admin.EmptyFieldListFilter))
    search_fields = ("client_id", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")
    fields = (
        "client_id",
        "sensor_type",
        "version",
        "user",
        "needs_script",
        "script",
        "analog_rotations_per_kwh",
        "created_at",
        "updated_at",
    )
    actions = ("reset_sensors", "revoke_tokens")
    inlines = (SensorAssignmentInline,)
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Sensor]:
        return selectors.sensors_with_last_reading(super().get_queryset(request))

    @admin.display(description="last reading at", ordering="last_reading_at")
    def last_reading_at(self, obj: Any) -> Any:
        return obj.last_reading_at

    @admin.display(description="last value", ordering="last_reading_value")
    def last_reading_value(self, obj: Any) -> Any:
        return obj.last_reading_value

    @admin.display(description="live tokens")
    def live_tokens(self, obj: Any) -> Any:
        return obj.live_tokens

    def save_model(
        self,
        request: HttpRequest,
        obj: Sensor,
        form: ModelForm,  # type: ignore[type-arg]
        change: bool,
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "user" in form.changed_data:
            services.sensor_assign(sensor=obj, user=obj.user, actor_id=request.user.pk)

    @admin.action(description="Reset selected sensors (asks for confirmation)")
    def reset_sensors(
        self, request: HttpRequest, queryset: QuerySet[Sensor]
    ) -> HttpResponse | None:
        if request.POST.get("confirm") == "yes":
            delete_readings = request.POST.get("delete_readings") == "on"
            readings = 0
            for sensor in queryset:
                result = services.sensor_reset(
                    sensor=sensor, delete_readings=delete_readings, actor_id=request.user.pk
                )
                readings += result.readings_deleted
            self.message_user(
                request,
                f"{len(queryset)} sensor(s) reset; {readings} reading(s) deleted.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reset sensors?",
            "sensors": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "reset_sensors",
        }
        return TemplateResponse(request, "admin/sensors/sensor/reset_confirmation.html", context)

    @admin.action(description="Revoke all tokens of selected sensors")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Sensor]) -> None:
        count = services.sensor_tokens_revoke(
            sensor_ids=list(queryset.values_list("pk", flat=True)), actor_id=request.user.pk
        )
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


@admin.register(SensorToken)
class SensorTokenAdmin(admin.ModelAdmin[SensorToken]):
    """Live and expired tokens (hashes only)."""

    list_display = ("sensor", "issued_at", "expires_at")
    list_select_related = ("sensor",)
    list_filter = (("expires_at", admin.DateFieldListFilter),)
    search_fields = ("sensor__client_id",)
    readonly_fields = ("sensor", "token_hash", "issued_at", "expires_at", "issued_for_user_id")
    actions = ("revoke",)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[SensorToken]) -> None:
        count = services.sensor_tokens_delete(
            token_ids=list(queryset.values_list("pk", flat=True)), actor_id=request.user.pk
        )
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SensorToken | None = None) -> bool:
        return False


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin[Reading]):
    """Raw readings, read-only; built for millions of rows (estimated counts, indexed filters)."""

    list_display = (
        "timestamp",
        "sensor",
        "value",
        "consumption",
        "value_out",
        "inserted",
        "value_current",
        "quality",
    )
    list_filter = (("timestamp", admin.DateFieldListFilter), "sensor__sensor_type", "flags")
    search_fields = ("sensor__client_id__exact",)
    list_select_related = ("sensor",)
    raw_id_fields = ("sensor",)
    ordering = ("-timestamp",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "sensor",
        "timestamp",
        "value",
        "consumption",
        "value_out",
        "inserted",
        "value_current",
        "received_at",
    )

    @admin.display(description="quality")
    def quality(self, obj: Reading) -> str:
        return ", ".join(ReadingFlag.names(obj.flags)) or "as measured"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Reading], search_term: str
    ) -> tuple[QuerySet[Reading], bool]:
        # An exact MAC search, any letter case: stays on the (sensor, timestamp) index.
        if search_term:
            return queryset.filter(sensor__client_id=search_term.strip().upper()), False
        return queryset, False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reading | None = None) -> bool:
        return False


@admin.register(RejectedReading)
class RejectedReadingAdmin(admin.ModelAdmin[RejectedReading]):
    """Every reading the server refused, with the reason the sensor was told."""

    list_display = ("received_at", "sensor", "measured_at", "reason", "value", "resolution")
    list_filter = ("reason", "resolution", ("received_at", admin.DateFieldListFilter))
    search_fields = ("sensor__client_id",)
    list_select_related = ("sensor",)
    ordering = ("-received_at",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "sensor",
        "received_at",
        "measured_at",
        "reason",
        "status_message",
        "value",
        "payload",
        "resolved_at",
        "resolution",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: RejectedReading | None = None
    ) -> bool:
        return False


@admin.register(MeterEvent)
class MeterEventAdmin(admin.ModelAdmin[MeterEvent]):
    """Meter replacements detected from the readings."""

    list_display = ("occurred_at", "sensor", "kind", "previous_value", "new_value")
    list_filter = ("kind",)
    search_fields = ("sensor__client_id",)
    list_select_related = ("sensor",)
    ordering = ("-occurred_at",)
    readonly_fields = (
        "sensor",
        "kind",
        "occurred_at",
        "previous_value",
        "new_value",
        "confirming_readings",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MeterEvent | None = None) -> bool:
        return False
