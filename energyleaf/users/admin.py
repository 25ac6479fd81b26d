from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .models import ExperimentParticipation, Household, User


class HouseholdInline(admin.StackedInline[Household, User]):
    model = Household
    can_delete = False
    extra = 0
    readonly_fields = ("created_at", "updated_at")


class ExperimentInline(admin.StackedInline[ExperimentParticipation, User]):
    model = ExperimentParticipation
    can_delete = False
    extra = 0
    readonly_fields = ("status_changed_at", "created_at", "updated_at")


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin[User], DjangoUserAdmin[User]):
    """Users with their household and experiment data inline."""

    inlines = (HouseholdInline, ExperimentInline)
    list_display = (
        "email",
        "username",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "is_participant",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", "is_participant", "household__app_version")
    search_fields = ("email", "username", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined", "activation_date")
    list_select_related = ("household",)
    show_full_result_count = False
    actions = ("activate", "deactivate", "promote_to_admin")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            "Personal info",
            {"fields": ("username", "first_name", "last_name", "phone", "address")},
        ),
        (
            "Study",
            {"fields": ("is_participant", "onboarding_completed", "activation_date")},
        ),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "password1", "password2"),
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        """Only superusers make superusers; roles and permissions are given by superusers and
        by those who may change groups."""
        fields = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ("is_superuser",)
            if not request.user.has_perm("auth.change_group"):
                fields += ("groups", "user_permissions")
        return fields

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        """A superuser's account (its password included) is changed only by superusers."""
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("users.deactivate_user")

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def _superusers_refused(self, request: HttpRequest, queryset: QuerySet[User]) -> bool:
        """Whether the selection holds a superuser that the (non-superuser) requester may not
        touch; tells them so. Nothing is changed then."""
        if request.user.is_superuser or not queryset.filter(is_superuser=True).exists():
            return False
        self.message_user(
            request,
            "Only superusers may activate or deactivate a superuser; nothing was changed.",
            messages.ERROR,
        )
        return True

    @admin.action(description="Activate selected users", permissions=["deactivate"])
    def activate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if self._superusers_refused(request, queryset):
            return
        count = services.users_activate(users=queryset)
        self.message_user(request, f"{count} user(s) activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected users", permissions=["deactivate"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if self._superusers_refused(request, queryset):
            return
        count = services.users_deactivate(users=queryset)
        self.message_user(request, f"{count} user(s) deactivated.", messages.SUCCESS)

    @admin.action(
        description="Promote selected users to admin (superuser)", permissions=["promote"]
    )
    def promote_to_admin(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = services.users_promote_to_admin(users=queryset)
        self.message_user(request, f"{count} user(s) are now admins.", messages.SUCCESS)


@admin.register(Household)
class HouseholdAdmin(SimpleHistoryAdmin[Household]):
    list_display = ("user", "time_zone", "app_version", "tariff", "receive_anomaly_mails")
    list_filter = ("app_version", "tariff", "meter_type", "receive_anomaly_mails")
    search_fields = ("user__email", "meter_number")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(ExperimentParticipation)
class ExperimentParticipationAdmin(SimpleHistoryAdmin[ExperimentParticipation]):
    list_display = ("user", "status", "installation_date", "gets_paid", "uses_prolific")
    list_filter = ("status", "gets_paid", "uses_prolific")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("status_changed_at", "created_at", "updated_at")
