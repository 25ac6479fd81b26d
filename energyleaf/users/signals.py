"""Signals of the users app: failed logins are audited (account as typed and address; never the
password), and `household_deleting` lets the apps above (sensors, analytics) act when a household
is deleted."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import Signal, receiver

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.common.throttling import client_address
from energyleaf.users.services.login_throttle import login_account_key

from .models import User

household_deleting = Signal()
"""Sent inside the transaction that deletes a household user, before the user row is deleted.

Arguments: `user` (the User) and `keep_readings` (bool). With `keep_readings` the readings of
its assignment periods stay for the study (the periods keep its `household_key`, so datasets
label them with the same pseudonym); without, the receivers delete them and everything derived
from them."""


@receiver(user_login_failed, dispatch_uid="energyleaf.users.audit_failed_login")
def audit_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    """One audit event per failed login, JWT or admin, naming the account if it exists."""
    account = login_account_key(credentials.get(User.USERNAME_FIELD) or credentials.get("username"))
    path = str(getattr(request, "path", "") or "")
    user_id = (
        User.objects.filter(email=account).values_list("pk", flat=True).first() if account else None
    )
    audit_event_record(
        title="auth/login-failed",
        app_function="login",
        app_component=(
            AuditEvent.Component.API if path.startswith("/api/") else AuditEvent.Component.ADMIN
        ),
        log_type=AuditEvent.LogType.ERROR,
        user_id=user_id,
        details={
            "account": account,
            "address": client_address(request) if request is not None else None,
            "path": path[:200],
        },
    )
