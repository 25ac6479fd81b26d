"""A sensor's change of household, with the rollups that follow it.

`sensors.services` owns the assignment periods and `Sensor.user`; the rollups summed from them
are this app's. Interfaces that move a sensor (the admin's change form and reset action) call
these services, which call the sensors service and then rebuild the rollups from the moment of
the change: explicit calls, no signal (docs/design.md, "Explicit calls instead of signals").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from energyleaf.users.models import User
from sensors.models import Sensor
from sensors.selectors.assignments import periods_q
from sensors.services import SensorResetResult, sensor_assign, sensor_reset

from ..models import DetectionState, Sequence
from .rollups import BUCKET, rollups_rebuild

# Readings may be stamped up to an hour ahead of the server (ingestion refuses later ones).
_AHEAD = timedelta(hours=1)


def rollups_follow_assignment(*, sensor_id: int, at: datetime) -> int:
    """Rebuild the sensor's rollups from a change of its household at `at` on: buckets from the
    change on were summed for the previous household; the bucket holding it gets one row per
    household. Returns the number of buckets written."""
    return rollups_rebuild(sensor_id=sensor_id, start=at, end=at + _AHEAD + BUCKET)


@transaction.atomic
def sensor_reassign(
    *, sensor: Sensor, user: User | None, actor_id: int | None = None, at: datetime | None = None
) -> Sensor:
    """Assign the sensor to `user` (None: to nobody) as of `at` (default now) with
    `sensors.services.sensor_assign`, then rebuild its rollups from `at` on."""
    at = at or timezone.now()
    sensor = sensor_assign(sensor=sensor, user=user, actor_id=actor_id, at=at)
    rollups_follow_assignment(sensor_id=sensor.pk, at=at)
    return sensor


@transaction.atomic
def sensor_reset_with_rollups(
    *,
    sensor: Sensor,
    delete_readings: bool = False,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> SensorResetResult:
    """Reset the sensor with `sensors.services.sensor_reset` as of `at` (default now), then
    rebuild its rollups from `at` on. With its readings deleted, what came from them goes too:
    the rollups over the deleted span are summed again from the readings kept, and the peaks and
    anomalies detected in the deleted readings (with their suggestions and confirmations) are
    deleted."""
    at = at or timezone.now()
    result = sensor_reset(sensor=sensor, delete_readings=delete_readings, actor_id=actor_id, at=at)
    rollups_follow_assignment(sensor_id=sensor.pk, at=at)
    if result.deleted_from is not None and result.deleted_to is not None:
        rollups_rebuild(
            sensor_id=sensor.pk,
            start=result.deleted_from,
            end=result.deleted_to + timedelta(microseconds=1),
        )
        Sequence.objects.filter(
            sensor_id=sensor.pk, start__gte=result.deleted_from, start__lte=result.deleted_to
        ).exclude(periods_q(result.kept_periods, field="start")).delete()
        # The detection arrays kept of the sensor may hold the deleted readings.
        DetectionState.objects.filter(sensor_id=sensor.pk).delete()
    return result
