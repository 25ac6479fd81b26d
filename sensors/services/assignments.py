"""Writes of sensor assignments: which household a sensor belongs to, period by period.

A change of a sensor's household closes its open period and opens a new one from that moment; a
new sensor's first period starts at `ASSIGNMENT_ORIGIN`, so readings it buffered before it was
assigned are its first household's. Periods of one sensor never overlap: a new period starts no
earlier than the latest end. Every write path of `Sensor.user` ends here (the services call it,
and a post_save receiver catches direct saves such as the admin form or test factories).
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ..events import assignment_changed
from ..models import ASSIGNMENT_ORIGIN, Reading, Sensor, SensorAssignment


@transaction.atomic
def assignment_sync(
    *, sensor_id: int, user_id: int | None, at: datetime | None = None
) -> SensorAssignment | None:
    """Make the sensor's open period that of `user_id` (None: no open period) as of `at` (now).

    Nothing changes when the open period is already the user's. Otherwise the open period is
    closed at `at` (removed when it would be empty) and, for a user, a new one opens at `at`, or
    at `ASSIGNMENT_ORIGIN` for a sensor that never had a period nor a reading (readings of a
    sensor that was never assigned since the periods exist stay nobody's). Sends
    `assignment_changed` when anything changed. Returns the open period or None.
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
        if current is not None:
            assignment_changed.send(sender=SensorAssignment, sensor_id=sensor_id, at=at)
        return None
    latest_end = SensorAssignment.objects.filter(sensor_id=sensor_id).aggregate(
        latest=Max("valid_to")
    )["latest"]
    start = max(at, latest_end) if latest_end is not None else at
    first_ever = not SensorAssignment.objects.filter(sensor_id=sensor_id).exists()
    if first_ever and not Reading.objects.filter(sensor_id=sensor_id).exists():
        # A new sensor: whatever it buffered before it was assigned is its household's.
        start = ASSIGNMENT_ORIGIN
    opened = SensorAssignment.objects.create(
        sensor_id=sensor_id, user_id=user_id, household_key=user_id, valid_from=start
    )
    assignment_changed.send(sender=SensorAssignment, sensor_id=sensor_id, at=min(at, start))
    return opened


def assignments_close_for_user(*, user_id: int, at: datetime | None = None) -> int:
    """Close every open period of the household (it is being deleted); returns how many."""
    at = at or timezone.now()
    closed = 0
    for sensor_id in SensorAssignment.objects.filter(
        user_id=user_id, valid_to__isnull=True
    ).values_list("sensor_id", flat=True):
        assignment_sync(sensor_id=sensor_id, user_id=None, at=at)
        closed += 1
    return closed


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
