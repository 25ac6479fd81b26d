"""Writes for users, households and experiment participation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from energyleaf.audit.services import audit_event_record
from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import (
    HOUSEHOLD_PROFILE_FIELDS,
    ExperimentParticipation,
    Household,
    User,
)

HOUSEHOLD_EDITABLE_FIELDS = frozenset(
    {*HOUSEHOLD_PROFILE_FIELDS, "power_at_meter", "wifi_at_meter"}
)


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None = None,
    username: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_participant: bool = False,
    household: dict[str, Any] | None = None,
) -> User:
    """Create a user and its household row (every user is a household); validated, atomic.

    A user without a usable password cannot log in until an admin sets one.
    """
    user = User.objects.create_user(
        email=email,
        password=password,
        username=username,
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
        is_participant=is_participant,
    )
    household_row = Household(user=user, **(household or {}))
    household_row.full_clean()
    household_row.save()
    if is_participant:
        participation = ExperimentParticipation(user=user, status_changed_at=timezone.now())
        participation.full_clean()
        participation.save()
    return user


@transaction.atomic
def household_update(*, user: User, data: dict[str, Any], must_exist: bool = False) -> Household:
    """Change the household fields in `data` (only the editable ones); validated, history kept.

    A user without a household row gets one, unless `must_exist` (a household changing its own
    data through the API): then NotFoundError `no_household`, and nothing is written."""
    unknown = set(data) - HOUSEHOLD_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if must_exist:
        household = Household.objects.select_for_update().filter(user=user).first()
        if household is None:
            raise NotFoundError("This account has no household data.", code="no_household")
    else:
        household, _ = Household.objects.select_for_update().get_or_create(user=user)
    for field, value in data.items():
        setattr(household, field, value)
    household.full_clean()
    household.save(update_fields=[*data.keys(), "updated_at"])
    return household


@transaction.atomic
def household_arm_set(*, user: User, app_version: int) -> Household:
    """Put the household of `user` into a study arm (`Household.AppVersion`). For staff and
    tools: a household cannot choose its own arm (`household_update` refuses the field)."""
    household, _ = Household.objects.select_for_update().get_or_create(user=user)
    household.app_version = app_version
    household.full_clean()
    household.save(update_fields=["app_version", "updated_at"])
    return household


def _set_flag(users: Iterable[User], **fields: Any) -> int:
    changed = 0
    for user in users:
        for field, value in fields.items():
            setattr(user, field, value)
        user.save(update_fields=list(fields))  # per row so that history records each change
        changed += 1
    return changed


@transaction.atomic
def users_activate(*, users: Iterable[User]) -> int:
    """Activate users; the activation date is set once, at the first activation (UTC)."""
    changed = 0
    now = timezone.now()
    for user in users:
        user.is_active = True
        fields = ["is_active"]
        if user.activation_date is None:
            user.activation_date = now
            fields.append("activation_date")
        user.save(update_fields=fields)
        changed += 1
    return changed


@transaction.atomic
def users_deactivate(*, users: Iterable[User]) -> int:
    """Deactivate users: they can no longer log in; their data stays."""
    return _set_flag(users, is_active=False)


@transaction.atomic
def users_promote_to_admin(*, users: Iterable[User]) -> int:
    """Give users admin rights (staff and superuser)."""
    return _set_flag(users, is_staff=True, is_superuser=True)


@transaction.atomic
def user_delete(
    *, user: User, actor_id: int | None = None, details: dict[str, Any] | None = None
) -> None:
    """Delete one user row (its household, participation and the rows that cascade with it) and
    audit it. Only for `analytics.services.households.households_delete`, which first acts on
    the household's sensors, readings and derived data (the choice is recorded in `details`)."""
    user_id = user.pk
    user.delete()
    audit_event_record(
        title="user/deleted",
        app_function="users-delete",
        app_component="admin",
        user_id=actor_id,
        details={"deleted_user_id": user_id, **(details or {})},
    )
