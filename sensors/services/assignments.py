"""Writes of sensor assignments: which household a sensor belongs to, period by period.

A change of a sensor's household closes its open period and opens a new one from that moment; a
new sensor's first period starts at `ASSIGNMENT_ORIGIN`, so readings it buffered before it was
assigned are its first household's. Periods of one sensor never overlap: a new period starts no
earlier than the latest end. Every write of `Sensor.user` goes through `services.sensors` (register,
assign, reset) or `household_sensors_release` here, and each of them syncs the periods
explicitly (docs/design.md, "Explicit calls instead of signals"). Rollups derived from the periods
are analytics' to rebuild: its services call these and then rebuild.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..models import ASSIGNMENT_ORIGIN, Reading, Sensor, SensorAssignment


@transaction.atomic
def assignment_sync(
    *, sensor_id: int, user_id: int | None, at: datetime | None = None
) -> SensorAssignment | None:
    """Make the sensor's open period that of `user_id` (None: no open period) as of `at` (now).

    Nothing changes when the open period is already the user's. Otherwise the open period is
    closed at `at` (removed when it would be empty) and, for a user, a new one opens at `at`, or
    at `ASSIGNMENT_ORIGIN` for a sensor that never had a period nor a reading (readings of a
    sensor that was never assigned since the periods exist stay nobody's). Returns the open period
    or None. Callers that change a household for good rebuild the rollups from `at` on
    (`analytics.services.assignments`).
    Raises ValidationError for an `at` before the open period's start (nothing is written).
    """
    at = at or timezone.now()
    open_periods = SensorAssignment.objects.filter(sensor_id=sensor_id, valid_to__isnull=True)
    current = open_periods.first()
    if (current.user_id if current is not None else None) == user_id:
        return current  # already in step (the common case: a save that did not move the sensor)
    # Serialises assignment changes of one sensor (the open-period constraint backs this up).
    list(Sensor.objects.select_for_update().filter(pk=sensor_id).values_list("pk", flat=True))
    current = open_periods.first()
    if current is not None and current.user_id == user_id:
        return current
    if current is not None:
        if at < current.valid_from:
            raise ValidationError(
                "A sensor's household cannot change before its current period began.",
                code="assignment_backdated",
            )
        if at == current.valid_from:
            current.delete()
        else:
            current.valid_to = at
            current.save(update_fields=["valid_to"])
    if user_id is None:
        return None
    latest_end = SensorAssignment.objects.filter(sensor_id=sensor_id).aggregate(
        latest=Max("valid_to")
    )["latest"]
    start = max(at, latest_end) if latest_end is not None else at
    first_ever = not SensorAssignment.objects.filter(sensor_id=sensor_id).exists()
    if first_ever and not Reading.objects.filter(sensor_id=sensor_id).exists():
        # A new sensor: whatever it buffered before it was assigned is its household's.
        start = ASSIGNMENT_ORIGIN
    return SensorAssignment.objects.create(
        sensor_id=sensor_id, user_id=user_id, household_key=user_id, valid_from=start
    )


@transaction.atomic
def household_sensors_release(*, user_id: int, at: datetime) -> list[int]:
    """Unassign every sensor of the household (it is being deleted) at `at`: its open periods
    close (they stay, with their `household_key`) and the sensors belong to nobody. Returns the
    ids of the sensors whose period closed, for the caller to rebuild their rollups from `at`."""
    released = []
    for sensor_id in SensorAssignment.objects.filter(
        user_id=user_id, valid_to__isnull=True
    ).values_list("sensor_id", flat=True):
        assignment_sync(sensor_id=sensor_id, user_id=None, at=at)
        released.append(sensor_id)
    Sensor.objects.filter(user_id=user_id).update(user=None)
    return released


@transaction.atomic
def household_readings_delete(*, user_id: int) -> int:
    """Delete the readings of the household's assignment periods: readings measured while
    another household held the sensor are untouched. The periods themselves stay (the sensor's
    history; empty now). Returns how many readings were deleted."""
    from ..selectors.assignments import household_periods, periods_q

    periods = household_periods(user_id=user_id)
    if not periods:
        return 0
    deleted, _ = Reading.objects.filter(periods_q(periods)).delete()
    return deleted
