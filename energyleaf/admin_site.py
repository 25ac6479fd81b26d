"""The admin pages whose actions reach past their own app: a sensor's change of household and a
household's deletion also touch analytics' rollups and peaks; an admin's change of a
participation status also mails the household (reports' study workflow mails).

`sensors.admin.SensorAdmin`, `energyleaf.users.admin.accounts.UserAdmin` and
`ExperimentParticipationAdmin` keep their pages; the subclasses here fill in the steps that need
analytics' and reports' services. An app may not use another
app's admin, nor a lower app a higher one, so this wiring lives at the project level, beside the
URL configuration: `energyleaf.apps.AdminConfig` replaces their registrations once every app's
admin has registered (docs/design.md, "Explicit calls instead of signals").
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone

from analytics.services.assignments import sensor_reassign, sensor_reset_with_rollups
from analytics.services.households import households_delete
from energyleaf.users.admin.accounts import ExperimentParticipationAdmin, UserAdmin
from energyleaf.users.models import ExperimentParticipation, User
from reports.services.study_mails import participation_status_change_with_mails
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
    `households_delete`."""

    deletes_households = True

    def delete_households(
        self, request: HttpRequest, users: list[User], *, keep_readings: bool
    ) -> int:
        return households_delete(users=users, keep_readings=keep_readings, actor_id=request.user.pk)


class ParticipationWithMailsAdmin(ExperimentParticipationAdmin):
    """The participations' admin; a status change also queues the household's study workflow
    mail (docs/operations.md, "Study workflow mails") and says which."""

    def change_status(
        self, request: HttpRequest, participation: ExperimentParticipation, *, to_status: str
    ) -> None:
        change = participation_status_change_with_mails(
            participation_id=participation.pk, to_status=to_status, at=timezone.now()
        )
        if change.study_mail is not None and change.queued:
            self.message_user(
                request,
                f"The household will get the mail: {change.study_mail.get_kind_display()}.",
                messages.INFO,
            )
        elif change.invitation is not None:
            number = change.invitation.survey_number
            self.message_user(
                request,
                f"The household will be invited to survey {number}."
                if change.queued
                else f"The household was invited to survey {number} before; not invited again.",
                messages.INFO,
            )
        elif change.invitation_not_configured:
            self.message_user(
                request,
                "No survey invitation: this survey's id or link is not configured.",
                messages.WARNING,
            )


def register_cross_app_pages() -> None:
    """Replace the sensors', users' and participations' admin registrations with the subclasses
    above."""
    pages: tuple[tuple[Any, Any], ...] = (
        (Sensor, SensorWithRollupsAdmin),
        (User, HouseholdUserAdmin),
        (ExperimentParticipation, ParticipationWithMailsAdmin),
    )
    for model, model_admin in pages:
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
