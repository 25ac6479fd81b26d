"""Reads for devices, a household's peaks and anomalies, suggestions and power estimations.

A sequence belongs to the household that held the sensor when it happened
(`sequence.household_key`, the household user's id), whoever holds the sensor now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from energyleaf.common.exceptions import NotFoundError
from sensors.selectors.assignments import household_key_periods
from sensors.selectors.readings import reading_consumption_series

from ..models import Device, DevicePowerEstimation, DeviceSuggestion, Sequence
from .arms import suggestion_shown_to_household

SUGGESTION_MIN_PROBABILITY = 0.5
"""Suggestions below this probability are not shown with a peak."""
SUGGESTIONS_PER_PEAK = 3
"""At most this many suggestions are shown with a peak, highest probability first."""


def household_sequences(
    *, user_id: int, start: datetime, end: datetime, kind: str, for_household: bool = True
) -> QuerySet[Sequence]:
    """The household's sequences of `kind` starting in [start, end), oldest first, with
    `devices` (by name) and `top_suggestions` (the peak's latest model version, probability at least
    `SUGGESTION_MIN_PROBABILITY`, at most `SUGGESTIONS_PER_PEAK`, highest first) prefetched.
    `for_household` (the household itself reads): `top_suggestions` stays empty unless its study
    arm sees suggestions (`analytics/selectors/arms.py`); staff pass False and see them all."""
    return _with_devices_and_suggestions(
        Sequence.objects.filter(
            household_key=user_id, kind=kind, start__gte=start, start__lt=end
        ).order_by("start", "pk"),
        for_household=for_household,
    )


def household_sequence_get(
    *, user_id: int, sequence_id: int, for_household: bool = True
) -> Sequence:
    """One of the household's sequences with devices and suggestions (as in
    `household_sequences`), or NotFoundError."""
    sequence = _with_devices_and_suggestions(
        Sequence.objects.filter(household_key=user_id, pk=sequence_id),
        for_household=for_household,
    ).first()
    if sequence is None:
        raise NotFoundError("Peak not found.")
    return sequence


def _with_devices_and_suggestions(
    queryset: QuerySet[Sequence], *, for_household: bool
) -> QuerySet[Sequence]:
    # Per peak, the suggestions of the model version that classified it last (a newer model
    # may not have seen older peaks yet).
    latest_for_peak = (
        DeviceSuggestion.objects.filter(sequence=OuterRef("sequence"))
        .order_by("-created_at", "-pk")
        .values("model_version")[:1]
    )
    suggestions = DeviceSuggestion.objects.filter(
        model_version=Subquery(latest_for_peak), probability__gte=SUGGESTION_MIN_PROBABILITY
    )
    if for_household:
        suggestions = suggestions.filter(suggestion_shown_to_household())
    suggestions = suggestions.order_by("-probability", "category")[:SUGGESTIONS_PER_PEAK]
    return queryset.prefetch_related(
        Prefetch("devices", queryset=Device.objects.order_by("name", "pk")),
        Prefetch("suggestions", queryset=suggestions, to_attr="top_suggestions"),
    )


def household_devices(*, user_id: int) -> QuerySet[Device]:
    """The household's devices by name."""
    return Device.objects.filter(user_id=user_id).order_by("name", "pk")


def household_device_get(*, user_id: int, device_id: int) -> Device:
    """One of the household's devices, or NotFoundError."""
    device = Device.objects.filter(user_id=user_id, pk=device_id).first()
    if device is None:
        raise NotFoundError("Device not found.")
    return device


def power_estimation_latest(*, user_id: int) -> DevicePowerEstimation | None:
    """The household's most recent device power estimation, if any."""
    return (
        DevicePowerEstimation.objects.filter(user_id=user_id).order_by("-created_at", "-pk").first()
    )


@dataclass(frozen=True)
class PowerPoint:
    """Power in W between the previous reading and `timestamp` (consumption / Δt)."""

    timestamp: datetime
    power_w: float


def sensor_power_around(
    *,
    sensor_id: int,
    start: datetime,
    end: datetime,
    margin: timedelta,
    household_key: int | None = None,
) -> list[PowerPoint]:
    """The sensor's power from `margin` before `start` to `margin` after `end`, from each
    reading's consumption (kWh) over the time since the previous reading; only the readings of
    the household `household_key`'s periods when given."""
    periods = (
        None
        if household_key is None
        else household_key_periods(household_key=household_key, sensor_id=sensor_id)
    )
    rows = reading_consumption_series(
        sensor_id=sensor_id, start=start - margin, end=end + margin, periods=periods
    )
    points: list[PowerPoint] = []
    for (previous, _), (timestamp, consumption) in pairwise(rows):
        seconds = (timestamp - previous).total_seconds()
        if seconds > 0:
            points.append(PowerPoint(timestamp, float(consumption) * 3_600_000 / seconds))
    return points
