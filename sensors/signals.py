"""Receivers that keep sensor assignment periods in step with `Sensor.user`, whatever saved it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from energyleaf.users.models import User
from energyleaf.users.signals import household_deleting

from .models import Sensor
from .services.assignments import (
    assignment_sync,
    assignments_close_for_user,
    household_readings_delete,
)


@receiver(post_save, sender=Sensor, dispatch_uid="sensors.assignment_sync")
def _sensor_saved(
    sender: type[Sensor],
    instance: Sensor,
    raw: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    if raw or (update_fields is not None and "user" not in update_fields):
        return  # loading fixtures, or a save that cannot have moved the sensor
    assignment_sync(sensor_id=instance.pk, user_id=instance.user_id)


@receiver(pre_delete, sender=User, dispatch_uid="sensors.assignments_close_for_user")
def _user_deleting(sender: type[User], instance: User, **kwargs: Any) -> None:
    # The periods stay (user becomes null, household_key remains); only the open one ends.
    assignments_close_for_user(user_id=instance.pk)


@receiver(household_deleting, dispatch_uid="sensors.household_readings_delete")
def _household_deleting(sender: type[User], user: User, keep_readings: bool, **kwargs: Any) -> None:
    if not keep_readings:
        household_readings_delete(user_id=user.pk)
