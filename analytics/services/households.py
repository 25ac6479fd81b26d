"""Deleting households: one service for everything a household's deletion touches.

A household's data spans three apps: the user row (`energyleaf.users`), its sensors' assignment
periods and readings (`sensors`) and the rollups and peaks derived from them (here). This is the
highest of them, so the orchestration lives here and calls the lower apps' services explicitly
(docs/design.md, "Explicit calls instead of signals"). The admin's delete action and page call
it (`energyleaf.admin_site`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from energyleaf.users.models import User
from energyleaf.users.services import user_delete
from sensors.selectors.assignments import household_periods
from sensors.services.assignments import household_readings_delete, household_sensors_release

from ..models import ConsumptionRollup, DetectionState, Sequence
from .assignments import rollups_follow_assignment


@transaction.atomic
def households_delete(
    *, users: Iterable[User], keep_readings: bool, actor_id: int | None = None
) -> int:
    """Delete users (households) with an explicit choice for their readings: `keep_readings`
    leaves the readings of their sensor assignment periods to the study (the periods keep the
    `household_key`, so datasets label them with the same pseudonym; visible to no household);
    otherwise those readings, and only those, are deleted with their rollups and peaks (other
    households' time with the same sensors stays). Their sensors' open periods end now and the
    sensors belong to nobody. Returns how many users were deleted."""
    deleted = 0
    for user in list(users):
        if not keep_readings:
            # The detection arrays kept of its sensors hold the readings deleted here.
            DetectionState.objects.filter(
                sensor_id__in=[period.sensor_id for period in household_periods(user_id=user.pk)]
            ).delete()
            household_readings_delete(user_id=user.pk)
            ConsumptionRollup.objects.filter(household_key=user.pk).delete()
            Sequence.objects.filter(household_key=user.pk).delete()
        at = timezone.now()
        for sensor_id in household_sensors_release(user_id=user.pk, at=at):
            rollups_follow_assignment(sensor_id=sensor_id, at=at)
        user_delete(
            user=user,
            actor_id=actor_id,
            details={"readings": "kept" if keep_readings else "deleted"},
        )
        deleted += 1
    return deleted
