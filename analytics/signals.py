"""Receivers: a household deleted together with its readings takes its rollups and peaks along."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from energyleaf.users.models import User
from energyleaf.users.signals import household_deleting

from .models import ConsumptionRollup, Sequence


@receiver(household_deleting, dispatch_uid="analytics.household_data_delete")
def _household_deleting(sender: type[User], user: User, keep_readings: bool, **kwargs: Any) -> None:
    if keep_readings:
        return
    # Rows of the household's periods only: other households' time with the same sensors stays.
    ConsumptionRollup.objects.filter(household_key=user.pk).delete()
    Sequence.objects.filter(household_key=user.pk).delete()
