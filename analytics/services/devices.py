"""Writes for a household's devices, their assignment to peaks and the power estimation.

Every change of assignments re-runs the household's device power estimation in the same
transaction: a `DevicePowerEstimation` row is stored and devices with `is_power_estimated` get
their estimated `power_w` (devices whose estimate is not positive keep their previous value).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from energyleaf.common.exceptions import NotFoundError

from ..compute.power_estimation import estimate_device_powers
from ..models import Device, DevicePeak, DevicePowerEstimation, Sequence

DEVICE_UPDATABLE_FIELDS = frozenset(
    {"name", "category", "power_w", "is_power_estimated", "weekly_usage_hours"}
)


@transaction.atomic
def device_create(
    *,
    user: AbstractBaseUser,
    name: str,
    category: str,
    power_w: float | None = None,
    is_power_estimated: bool = True,
    weekly_usage_hours: float | None = None,
) -> Device:
    """Create a device for the household `user`."""
    device = Device(
        user_id=user.pk,
        name=name,
        category=category,
        power_w=power_w,
        is_power_estimated=is_power_estimated,
        weekly_usage_hours=weekly_usage_hours,
    )
    device.full_clean()
    device.save()
    return device


@transaction.atomic
def device_update(*, user: AbstractBaseUser, device_id: int, data: Mapping[str, Any]) -> Device:
    """Change the given fields of one of the household's devices (NotFoundError otherwise)."""
    unknown = set(data) - DEVICE_UPDATABLE_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed."))
    device = _owned_device(user=user, device_id=device_id, lock=True)
    changed = [name for name, value in data.items() if getattr(device, name) != value]
    for name in changed:
        setattr(device, name, data[name])
    if changed:
        device.full_clean()
        device.save(update_fields=[*changed, "updated_at"])
    return device


@transaction.atomic
def device_delete(*, user: AbstractBaseUser, device_id: int) -> None:
    """Delete one of the household's devices; re-estimate if it had peaks."""
    device = _owned_device(user=user, device_id=device_id, lock=True)
    had_peaks = DevicePeak.objects.filter(device=device).exists()
    device.delete()
    if had_peaks:
        device_power_estimation_run(user_id=user.pk)


@transaction.atomic
def device_assign_to_peak(*, user: AbstractBaseUser, device_id: int, sequence_id: int) -> bool:
    """Record that the device ran during the sequence; both must be the household's.

    Idempotent: assigning again changes nothing. Returns whether an assignment was created.
    """
    device = _owned_device(user=user, device_id=device_id, lock=True)
    sequence = _owned_sequence(user=user, sequence_id=sequence_id)
    _, created = DevicePeak.objects.get_or_create(device=device, sequence=sequence)
    if created:
        device_power_estimation_run(user_id=user.pk)
    return created


@transaction.atomic
def device_unassign_from_peak(*, user: AbstractBaseUser, device_id: int, sequence_id: int) -> bool:
    """Remove the assignment (idempotent). Returns whether one was removed."""
    device = _owned_device(user=user, device_id=device_id, lock=True)
    sequence = _owned_sequence(user=user, sequence_id=sequence_id)
    deleted, _ = DevicePeak.objects.filter(device=device, sequence=sequence).delete()
    if deleted:
        device_power_estimation_run(user_id=user.pk)
    return bool(deleted)


@transaction.atomic
def device_power_estimation_run(*, user_id: int) -> DevicePowerEstimation:
    """Estimate the household's device powers from all its assigned peaks and store the run."""
    by_peak: dict[int, list[int]] = defaultdict(list)
    peak_power: dict[int, float] = {}
    rows = DevicePeak.objects.filter(device__user_id=user_id).values_list(
        "sequence_id", "device_id", "sequence__average_peak_power_w"
    )
    for sequence_id, device_id, power in rows.order_by("sequence_id", "device_id"):
        by_peak[sequence_id].append(device_id)
        peak_power[sequence_id] = power
    peaks = sorted(by_peak)
    result = estimate_device_powers(
        peak_devices=[by_peak[peak] for peak in peaks],
        peak_powers_w=[peak_power[peak] for peak in peaks],
    )
    estimation = DevicePowerEstimation(
        user_id=user_id,
        r_squared=result.r_squared,
        quality=result.quality,
        peaks_used=result.peaks_used,
    )
    estimation.full_clean()
    estimation.save()
    if result.powers_w:
        devices = Device.objects.filter(
            user_id=user_id, is_power_estimated=True, pk__in=result.powers_w
        ).select_for_update()
        for device in devices:
            device.power_w = result.powers_w[device.pk]
            device.save(update_fields=["power_w", "updated_at"])
    return estimation


def _owned_device(*, user: AbstractBaseUser, device_id: int, lock: bool = False) -> Device:
    queryset = Device.objects.filter(user_id=user.pk, pk=device_id)
    device = (queryset.select_for_update() if lock else queryset).first()
    if device is None:
        raise NotFoundError("Device not found.")
    return device


def _owned_sequence(*, user: AbstractBaseUser, sequence_id: int) -> Sequence:
    sequence = Sequence.objects.filter(household_key=user.pk, pk=sequence_id).first()
    if sequence is None:
        raise NotFoundError("Peak not found.")
    return sequence
