from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from energyleaf.common.admin import EstimatedCountPaginator, number_display
from energyleaf.common.numbers import REGISTER, WATTS, format_fixed
from sensors.compute.mac import canonical_mac_or_none

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
        return format_fixed(obj.last_reading_value, REGISTER)

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
        """The form saves every field but the household; a new household goes through
        `assign_household` (the assignment service), never a plain save."""
        household = obj.user
        moved = "user" in form.changed_data
        if moved:
            stored = Sensor.objects.filter(pk=obj.pk).values_list("user_id", flat=True).first()
            obj.user_id = stored  # as stored (None for a new sensor)
        # A changed script, rotations or flag of an existing sensor goes through
        # `sensor_settings_update` (audit event), as on the API; the flag is stored as the form
        # gives it.
        changed = [
            name for name in services.SETTINGS_FIELDS if change and name in form.changed_data
        ]
        wanted: dict[str, Any] = {name: getattr(obj, name) for name in services.SETTINGS_FIELDS}
        if changed:
            stored_settings = Sensor.objects.filter(pk=obj.pk).values(*services.SETTINGS_FIELDS)[0]
            for name, value in stored_settings.items():
                setattr(obj, name, value)
        super().save_model(request, obj, form, change)
        if changed:
            services.sensor_settings_update(sensor=obj, **wanted, actor_id=request.user.pk)
            obj.refresh_from_db()
        if moved:
            self.assign_household(request, obj, household)
            obj.refresh_from_db()

    def assign_household(self, request: HttpRequest, sensor: Sensor, user: Any) -> None:
        """Move the sensor to `user` (None: to nobody). The analytics admin overrides this to
        rebuild the rollups too (`energyleaf.admin_site`)."""
        services.sensor_assign(sensor=sensor, user=user, actor_id=request.user.pk)

    def reset_sensor(
        self, request: HttpRequest, sensor: Sensor, *, delete_readings: bool
    ) -> services.SensorResetResult:
        """Reset one sensor. The analytics admin overrides this to rebuild the rollups too."""
        return services.sensor_reset(
            sensor=sensor, delete_readings=delete_readings, actor_id=request.user.pk
        )

    def has_reset_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sensors.reset_sensor")

    def has_revoke_tokens_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sensors.revoke_tokens")

    @admin.action(
        description="Reset selected sensors (asks for confirmation)", permissions=["reset"]
    )
    def reset_sensors(
        self, request: HttpRequest, queryset: QuerySet[Sensor]
    ) -> HttpResponse | None:
        # The confirmation POST comes back through the action machinery, which filters the
        # actions by permission; checked here again all the same, since it changes data.
        if not self.has_reset_permission(request):
            raise PermissionDenied
        may_delete_readings = request.user.has_perm("sensors.delete_reading")
        if request.POST.get("confirm") == "yes":
            delete_readings = request.POST.get("delete_readings") == "on"
            if delete_readings and not may_delete_readings:
                self.message_user(
                    request,
                    "You may not delete readings; nothing was reset.",
                    messages.ERROR,
                )
                return None
            readings = 0
            for sensor in queryset:
                result = self.reset_sensor(request, sensor, delete_readings=delete_readings)
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
            "may_delete_readings": may_delete_readings,
        }
        return TemplateResponse(request, "admin/sensors/sensor/reset_confirmation.html", context)

    @admin.action(
        description="Revoke all tokens of selected sensors", permissions=["revoke_tokens"]
    )
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

    def has_revoke_tokens_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sensors.revoke_tokens")

    @admin.action(description="Revoke selected tokens", permissions=["revoke_tokens"])
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
        "value_shown",
        "consumption_shown",
        "value_out_shown",
        "inserted_shown",
        "value_current_shown",
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
        "value_shown",
        "consumption_shown",
        "value_out_shown",
        "inserted_shown",
        "value_current_shown",
        "flags",
        "quality",
        "received_at",
    )
    fields = readonly_fields
    # Registers and their differences to 4 decimals, power to 0.1 W (energyleaf.common.numbers).
    value_shown = number_display("value", decimals=REGISTER, description="value")
    consumption_shown = number_display("consumption", decimals=REGISTER, description="consumption")
    value_out_shown = number_display("value_out", decimals=REGISTER, description="value out")
    inserted_shown = number_display("inserted", decimals=REGISTER, description="inserted")
    value_current_shown = number_display(
        "value_current", decimals=WATTS, description="value current (W)"
    )

    @admin.display(description="quality")
    def quality(self, obj: Reading) -> str:
        return ", ".join(ReadingFlag.names(obj.flags)) or "as measured"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Reading], search_term: str
    ) -> tuple[QuerySet[Reading], bool]:
        # An exact MAC search, any spelling: stays on the (sensor, timestamp) index.
        if search_term:
            return queryset.filter(
                sensor__client_id=canonical_mac_or_none(search_term) or search_term.strip().upper()
            ), False
        return queryset, False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reading | None = None) -> bool:
        return False


@admin.register(RejectedReading)
class RejectedReadingAdmin(admin.ModelAdmin[RejectedReading]):
    """Every reading the server refused, with the reason the sensor was told."""

    list_display = ("received_at", "sensor", "measured_at", "reason", "value_shown", "resolution")
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
        "value_shown",
        "payload",
        "resolved_at",
        "resolution",
    )
    fields = readonly_fields
    value_shown = number_display("value", decimals=REGISTER, description="value")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: RejectedReading | None = None
    ) -> bool:
        return False


@admin.register(MeterEvent)
class MeterEventAdmin(admin.ModelAdmin[MeterEvent]):
    """Meter replacements detected from the readings."""

    list_display = ("occurred_at", "sensor", "kind", "previous_value_shown", "new_value_shown")
    list_filter = ("kind",)
    search_fields = ("sensor__client_id",)
    list_select_related = ("sensor",)
    ordering = ("-occurred_at",)
    readonly_fields = (
        "sensor",
        "kind",
        "occurred_at",
        "previous_value_shown",
        "new_value_shown",
        "confirming_readings",
        "created_at",
    )
    fields = readonly_fields
    previous_value_shown = number_display(
        "previous_value", decimals=REGISTER, description="previous value"
    )
    new_value_shown = number_display("new_value", decimals=REGISTER, description="new value")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MeterEvent | None = None) -> bool:
        return False
