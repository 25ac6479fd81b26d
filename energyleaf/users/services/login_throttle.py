"""Login rate limits, per address and per account, for the JWT login and the admin login.

Checked before the password is hashed, so a flood of logins costs a cache round trip each
instead of a password hash and cannot starve the sensor endpoints of CPU. Counts live in the
default cache (Redis in production: shared by every web process). Every attempt counts, right
or wrong; a refused attempt is audited once per address or account and minute.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.common.throttling import rate_limit_hit

MAX_ACCOUNT_CHARS = 254


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
    if wait is None and account_key:
        wait = rate_limit_hit(
            ident=f"login:account:{account_key}", rate=settings.ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT
        )
        limited_by = "account"
    if wait is not None:
        _audit_once_a_minute(
            limited_by=limited_by, address=address, account=account_key, component=component
        )
    return wait


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
