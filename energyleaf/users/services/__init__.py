"""Writes of the users app: `accounts` (accounts, household data, activation, deletion) and
`participation` (the experiment participation status and its transitions), both re-exported
here; `imported` (accounts brought in from the old platform); `roles` (the staff role groups)
and `login_throttle` (the login rate limits)."""

from .accounts import (
    HOUSEHOLD_EDITABLE_FIELDS,
    household_arm_set,
    household_update,
    user_create,
    user_delete,
    users_activate,
    users_deactivate,
    users_promote_to_admin,
)
from .participation import PARTICIPATION_TRANSITIONS, participation_status_change

__all__ = [
    "HOUSEHOLD_EDITABLE_FIELDS",
    "PARTICIPATION_TRANSITIONS",
    "household_arm_set",
    "household_update",
    "participation_status_change",
    "user_create",
    "user_delete",
    "users_activate",
    "users_deactivate",
    "users_promote_to_admin",
]
