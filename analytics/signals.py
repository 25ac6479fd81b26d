"""Receivers: rollups follow a sensor's change of household; a household deleted together with
its readings takes its rollups and peaks along."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.dispatch import receiver

from energyleaf.users.models import User
from energyleaf.users.signals import household_deleting
from sensors.events import assignment_changed

from .models import ConsumptionRollup, Sequence
from .services.rollups import BUCKET, rollups_rebuild

# Readings may be stamped up to an hour ahead of the server (ingestion refuses later ones).
_AHEAD = timedelta(hours=1)


@receiver(assignment_changed, dispatch_uid="analytics.rollups_follow_assignment")
def _assignment_changed(sender: Any, sensor_id: int, at: datetime, **kwargs: Any) -> None:
    # Buckets from the change on were summed for the previous household: sum them again, cut at
    # the change (the bucket holding it gets one row per household).
    rollups_rebuild(sensor_id=sensor_id, start=at, end=at + _AHEAD + BUCKET)


@receiver(household_deleting, dispatch_uid="analytics.household_data_delete")
def _household_deleting(sender: type[User], user: User, keep_readings: bool, **kwargs: Any) -> None:
    if keep_readings:
        return
    # Rows of the household's periods only: other households' time with the same sensors stays.
    ConsumptionRollup.objects.filter(household_key=user.pk).delete()
    Sequence.objects.filter(household_key=user.pk).delete()
