"""Reads for users and households."""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from energyleaf.common.time import default_household_time_zone

from .models import Household, User


def user_with_household(*, user_id: int) -> User:
    """The user with household and experiment data loaded in one query."""
    return User.objects.select_related("household", "experiment").get(pk=user_id)


def households_in_arms(*, app_versions: Iterable[int]) -> QuerySet[Household]:
    """Households whose study arm (`Household.app_version`) is one of `app_versions`."""
    return Household.objects.filter(app_version__in=list(app_versions))


def users_by_email(*, email: str) -> QuerySet[User]:
    """Users matching `email` case-insensitively (zero or one row)."""
    return User.objects.filter(email__iexact=email.strip())


def household_time_zone(*, user: User | None = None, user_id: int | None = None) -> ZoneInfo:
    """The zone of a household's local days and hours: its `Household.time_zone`, or the
    configured default (`ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE`, Europe/Berlin unless set:
    docs/design.md, difference 10) for a user without a household, an unknown `user_id`, or no
    user at all (neither given, e.g. a sensor no household holds).

    With `user`, its `household` is read (no query when loaded with `select_related`); with
    `user_id`, one query.
    """
    if user is not None and user_id is not None:
        raise TypeError("give user or user_id, not both")
    name: str | None = None
    if user is not None:
        household: Household | None = getattr(user, "household", None)
        name = household.time_zone if household is not None else None
    elif user_id is not None:
        name = Household.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first()
    return ZoneInfo(name if name is not None else default_household_time_zone())


def staff_with_role(*, role: str) -> QuerySet[User]:
    """The staff accounts that can be mailed as members of the role group `role`
    (`energyleaf/users/services/roles.py`): active, `is_staff`, in the group and with an
    e-mail address, by id. Superusers outside the group are not among them."""
    return (
        User.objects.filter(is_active=True, is_staff=True, groups__name=role)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
