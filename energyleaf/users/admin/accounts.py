from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from energyleaf.users import services
from energyleaf.users.models import (
    ExperimentParticipation,
    ExperimentStatusTransition,
    Household,
    User,
)


class HouseholdInline(admin.StackedInline[Household, User]):
    model = Household
    can_delete = False
    extra = 0
    readonly_fields = ("created_at", "updated_at")


class ExperimentInline(admin.StackedInline[ExperimentParticipation, User]):
    """The participation beside the account; its status is changed on the participation's own
    page, which records the change and mails the household."""

    model = ExperimentParticipation
    can_delete = False
    extra = 0
    readonly_fields = (
        "status",
        "dismissal_reason",
        "status_changed_at",
        "created_at",
        "updated_at",
    )


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
    actions = ("activate", "deactivate", "promote_to_admin", "delete_users")
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
        if not self.deletes_households:
            return False
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    # Deleting a household also deletes or keeps its readings and their derived data, which
    # belong to apps above this one: the analytics admin registers a subclass that sets this
    # and implements `delete_households` with its service (docs/design.md, "Explicit calls
    # instead of signals"). Without it, this admin deletes no user.
    deletes_households = False

    def delete_households(
        self, request: HttpRequest, users: list[User], *, keep_readings: bool
    ) -> int:
        """Delete the households, keeping or deleting their readings; returns how many."""
        raise PermissionDenied

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
            "Only superusers may activate, deactivate or delete a superuser; nothing was changed.",
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

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting a household needs a decision about its readings: only `delete_users` asks it.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(
        description="Delete selected users (asks what happens to their readings)",
        permissions=["delete"],
    )
    def delete_users(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        if self._superusers_refused(request, queryset):
            return None
        return self._delete_confirmation(
            request, list(queryset), action_name="delete_users", cancel_url="."
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The delete button of a user: the same confirmation with the choice for readings."""
        user = self.get_object(request, object_id)
        if user is None:
            raise Http404("No such user.")
        if not self.has_delete_permission(request, user):
            raise PermissionDenied
        cancel_url = reverse("admin:users_user_change", args=[user.pk])
        response = self._delete_confirmation(
            request, [user], action_name=None, cancel_url=cancel_url
        )
        if response is None:
            return HttpResponseRedirect(reverse("admin:users_user_changelist"))
        return response

    def _delete_confirmation(
        self,
        request: HttpRequest,
        users: list[User],
        *,
        action_name: str | None,
        cancel_url: str,
    ) -> HttpResponse | None:
        error = ""
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            choice = request.POST.get("readings")
            if choice in ("keep", "delete"):
                count = self.delete_households(request, users, keep_readings=choice == "keep")
                what = "kept for the study" if choice == "keep" else "deleted"
                self.message_user(
                    request, f"{count} user(s) deleted; their readings {what}.", messages.SUCCESS
                )
                return None
            error = "Choose whether the readings are kept for the study or deleted."
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete users?",
            "users": users,
            "error": error,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": action_name,
            "cancel_url": cancel_url,
        }
        return TemplateResponse(
            request,
            "admin/users/user/delete_households.html",
            context,
            status=400 if error else 200,
        )

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


class ExperimentParticipationForm(forms.ModelForm[ExperimentParticipation]):
    """Refuses a status change an admin may not make (`PARTICIPATION_TRANSITIONS`, source
    `admin`), naming the changes that are allowed from the current status."""

    class Meta:
        model = ExperimentParticipation
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets decide what is shown

    def clean_status(self) -> str:
        to_status = str(self.cleaned_data["status"])
        from_status = self.instance.status
        if self.instance.pk is None or to_status == from_status:
            return to_status
        source = ExperimentStatusTransition.Source.ADMIN
        if not services.participation_status_change_allowed(
            from_status=from_status, to_status=to_status, source=source
        ):
            allowed = sorted(
                to
                for start, to in services.PARTICIPATION_TRANSITIONS[source]
                if start == from_status
            )
            raise ValidationError(
                f"An admin may not change the status from {from_status} to {to_status}; "
                f"from {from_status} it can become: {', '.join(allowed) or 'nothing'}."
            )
        return to_status


@admin.register(ExperimentParticipation)
class ExperimentParticipationAdmin(SimpleHistoryAdmin[ExperimentParticipation]):
    """A participation's page. A change of its status is not saved with the other fields but
    handed to `change_status`, which records it as a transition (source `admin`); the project's
    subclass (`energyleaf/admin_site.py`) also mails the household (reports' study workflow
    mails). A new participation starts `registered`."""

    form = ExperimentParticipationForm
    list_display = (
        "user",
        "status",
        "dismissal_reason",
        "installation_date",
        "gets_paid",
        "uses_prolific",
    )
    list_filter = ("status", "dismissal_reason", "gets_paid", "uses_prolific")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    fields = (
        "user",
        "status",
        "dismissal_reason",
        "installation_date",
        "deinstallation_date",
        "experiment_number",
        "gets_paid",
        "uses_prolific",
        "status_changed_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("status_changed_at", "created_at", "updated_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: ExperimentParticipation | None = None
    ) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if obj is not None else ("status", *fields)

    def save_model(
        self,
        request: HttpRequest,
        obj: ExperimentParticipation,
        form: forms.ModelForm[ExperimentParticipation],
        change: bool,
    ) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        to_status = obj.status
        # Only the fields the form changed, never the status (another admin's change of it
        # meanwhile stays); then a changed status through `change_status`, both in a savepoint:
        # a change refused under the row lock (another admin moved the status meanwhile; the
        # form checked the transition) undoes both and leaves the change view's transaction
        # usable for the rest of the request.
        obj.status = form.initial["status"]
        others = [name for name in form.changed_data if name != "status"]
        try:
            with transaction.atomic():
                if others:
                    obj.save(update_fields=[*others, "updated_at"])
                if "status" in form.changed_data:
                    self.change_status(request, obj, to_status=to_status)
        except ValidationError as error:
            self.message_user(
                request, f"Nothing was changed: {'; '.join(error.messages)}", messages.ERROR
            )
        obj.refresh_from_db()

    def revert_disabled(
        self, request: HttpRequest, obj: ExperimentParticipation | None = None
    ) -> bool:
        """No "Revert" from the history: a status changes only on the change page, through
        `change_status`."""
        return True

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """An earlier version, to look at; saving it is refused (it would bypass the status
        rules and the study mails)."""
        if request.method == "POST":
            raise PermissionDenied("A participation is changed on its page, not reverted.")
        response: HttpResponse = super().history_form_view(
            request, object_id, version_id, extra_context
        )
        return response

    def change_status(
        self, request: HttpRequest, participation: ExperimentParticipation, *, to_status: str
    ) -> None:
        """Move the participation to `to_status` now, recorded as a transition (source
        `admin`). Without the project's subclass no mail is sent."""
        services.participation_status_set_by_admin(
            participation_id=participation.pk, to_status=to_status, at=timezone.now()
        )


@admin.register(ExperimentStatusTransition)
class ExperimentStatusTransitionAdmin(admin.ModelAdmin[ExperimentStatusTransition]):
    """Read-only: written only by `participation_status_change`, with each status change."""

    list_display = ("id", "participation", "from_status", "to_status", "changed_at", "source")
    list_filter = ("to_status", "source")
    list_select_related = ("participation__user",)
    search_fields = ("participation__user__email",)
    raw_id_fields = ("participation",)
    show_full_result_count = False
    date_hierarchy = "changed_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ExperimentStatusTransition | None = None
    ) -> bool:
        return False
