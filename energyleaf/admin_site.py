"""The admin pages whose actions reach past their own app: a sensor's change of household and a
household's deletion also touch analytics' rollups and peaks.

`sensors.admin.SensorAdmin` and `energyleaf.users.admin.accounts.UserAdmin` keep their pages; the
subclasses here fill in the steps that need analytics' services. An app may not use another
app's admin, nor a lower app a higher one, so this wiring lives at the project level, beside the
URL configuration: `energyleaf.apps.AdminConfig` replaces the two registrations once every app's
admin has registered (docs/design.md, "Explicit calls instead of signals").
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.services.assignments import sensor_reassign, sensor_reset_with_rollups
from analytics.services.households import households_delete
from energyleaf.users.admin.accounts import UserAdmin
from energyleaf.users.models import User
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


def register_cross_app_pages() -> None:
    """Replace the sensors' and users' admin registrations with the subclasses above."""
    for model, model_admin in ((Sensor, SensorWithRollupsAdmin), (User, HouseholdUserAdmin)):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
