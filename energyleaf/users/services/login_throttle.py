"""Login rate limits, per address and per account, for the JWT login and the admin login.

Checked before the password is hashed, so a flood of logins costs a cache round trip each
instead of a password hash and cannot starve the sensor endpoints of CPU. Counts live in the
default cache (Redis in production: shared by every web process). Every attempt counts, right
or wrong; a refused attempt is audited once per address or account and minute.

The per-account limit stops guessing one account's password from many addresses, but it would
also let anyone lock a household out by failing logins with its e-mail. An address the account
logged in from successfully is therefore remembered for `KNOWN_ADDRESS_DAYS` days and, from
there, only the per-address limit applies: the household keeps logging in from home while its
account is under attack elsewhere.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.request import Request

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.common.throttling import client_address, rate_limit_hit
from energyleaf.users.models import User

MAX_ACCOUNT_CHARS = 254
KNOWN_ADDRESS_DAYS = 30


def login_account_key(account: object) -> str:
    """The account as counted: the e-mail as typed, stripped, lower-case, bounded."""
    return str(account or "").strip().lower()[:MAX_ACCOUNT_CHARS]


def login_throttle_wait(*, address: str, account: object, component: str) -> float | None:
    """Count one login attempt from `address` for `account`; None when it may proceed, else the
    seconds to wait (then the attempt is refused without checking the password)."""
    account_key = login_account_key(account)
    wait = rate_limit_hit(
        ident=f"login:address:{address}", rate=settings.ENERGYLEAF_LOGIN_RATE_PER_ADDRESS
    )
    limited_by = "address"
    if wait is None and account_key and not _known(address=address, account=account_key):
        wait = rate_limit_hit(
            ident=f"login:account:{account_key}", rate=settings.ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT
        )
        limited_by = "account"
    if wait is not None:
        _audit_once_a_minute(
            limited_by=limited_by, address=address, account=account_key, component=component
        )
    return wait


def login_success_remember(*, address: str, account: object) -> None:
    """Remember that `account` logged in from `address`: from there the per-account limit no
    longer applies (for `KNOWN_ADDRESS_DAYS` days from the latest success)."""
    account_key = login_account_key(account)
    if account_key:
        cache.set(_known_key(address=address, account=account_key), 1, KNOWN_ADDRESS_DAYS * 86400)


def _known_key(*, address: str, account: str) -> str:
    pair = f"{account}\n{address}".encode("utf-8", "surrogatepass")
    return f"login-known:{hashlib.sha256(pair).hexdigest()[:32]}"


def _known(*, address: str, account: str) -> bool:
    return cache.get(_known_key(address=address, account=account)) is not None


def login_failure_audit(
    *, account: object, request: HttpRequest | Request | None, component: str
) -> None:
    """One audit event for a login whose password check failed (JWT or admin; their login code
    calls this), naming the account if it exists: the account as typed and the address, never
    the password."""
    account_key = login_account_key(account)
    path = str(getattr(request, "path", "") or "")
    user_id = (
        User.objects.filter(email=account_key).values_list("pk", flat=True).first()
        if account_key
        else None
    )
    audit_event_record(
        title="auth/login-failed",
        app_function="login",
        app_component=component,
        log_type=AuditEvent.LogType.ERROR,
        user_id=user_id,
        details={
            "account": account_key,
            "address": client_address(request) if request is not None else None,
            "path": path[:200],
        },
    )


def retry_after(wait: float) -> int:
    """Whole seconds for a Retry-After header (at least 1)."""
    return max(1, math.ceil(wait))


def _audit_once_a_minute(*, limited_by: str, address: str, account: str, component: str) -> None:
    ident = address if limited_by == "address" else account
    minute = int(time.time() // 60)
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if not cache.add(f"login-throttle-audited:{limited_by}:{digest}:{minute}", 1, 120):
        return
    audit_event_record(
        title="auth/login-throttled",
        app_function="login",
        app_component=component,
        log_type=AuditEvent.LogType.ERROR,
        details={"limited_by": limited_by, "address": address, "account": account},
    )
