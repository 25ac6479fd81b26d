"""Writes for analytics rows brought in from another system (the import from the old platform,
`energyleaf/legacy`): peaks and anomalies as the old detection found them, devices, their
confirmed peaks, and the old classifier's suggestions. A repeated import adds nothing: a
sequence already there gives None, a link or suggestion already there is returned as it is."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from analytics.models import Device, DevicePeak, DeviceSuggestion, Sequence

# The model version of suggestions made by the old platform's classifier, which gave no
# probability: they are stored with probability 1 (it suggested the category, nothing more).
LEGACY_MODEL_VERSION = "legacy"


@transaction.atomic
def sequence_import(
    *,
    sensor_id: int,
    household_key: int,
    kind: str,
    start: datetime,
    end: datetime,
    average_peak_power_w: float,
    energy_kwh: float,
) -> Sequence | None:
    """A peak or anomaly; None when the sensor has one of that kind at that start already.
    `average_power_w` is the energy over the duration; the base load is unknown."""
    if Sequence.objects.filter(sensor_id=sensor_id, kind=kind, start=start).exists():
        return None
    hours = (end - start).total_seconds() / 3600
    sequence = Sequence(
        sensor_id=sensor_id,
        household_key=household_key,
        kind=kind,
        start=start,
        end=end,
        average_power_w=energy_kwh * 1000 / hours if hours > 0 else 0.0,
        average_peak_power_w=average_peak_power_w,
        energy_kwh=energy_kwh,
        base_load_w=None,
    )
    sequence.full_clean()
    sequence.save()
    return sequence


@transaction.atomic
def device_import(
    *,
    user_id: int,
    name: str,
    category: str,
    power_w: float | None,
    is_power_estimated: bool,
    weekly_usage_hours: float | None,
) -> Device:
    device = Device(
        user_id=user_id,
        name=name[:100],
        category=category,
        power_w=power_w,
        is_power_estimated=is_power_estimated,
        weekly_usage_hours=weekly_usage_hours,
    )
    device.full_clean()
    device.save()
    return device


def device_peak_import(*, device_id: int, sequence_id: int) -> DevicePeak:
    """The device's confirmed peak (the existing link when there is one)."""
    link, _created = DevicePeak.objects.get_or_create(device_id=device_id, sequence_id=sequence_id)
    return link


def suggestion_import(*, sequence_id: int, category: str) -> DeviceSuggestion:
    """The old classifier's suggestion of `category` for the peak (the existing one when the old
    platform stored the same suggestion twice)."""
    suggestion, _created = DeviceSuggestion.objects.get_or_create(
        sequence_id=sequence_id,
        category=category,
        model_version=LEGACY_MODEL_VERSION,
        defaults={"probability": 1.0},
    )
    return suggestion
