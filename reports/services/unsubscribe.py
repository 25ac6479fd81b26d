"""Unsubscribe links: a signed, expiring token that names the user and the mails to turn off.

The token is the only input that chooses the user (docs/design.md, difference 10): nothing else
the client sends is trusted. Scopes: `anomaly` turns off the anomaly mails, `reports` the report
mails (`ReportSettings.receive_mails`), `all` both. Tokens are signed with the project's secret
key and a dedicated salt and expire after `UNSUBSCRIBE_TOKEN_MAX_AGE`; applying a token twice is
harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, cast, get_args

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction

from energyleaf.users.models import Household, User
from energyleaf.users.services import household_update

from ..models import ReportSettings
from .reports import report_settings_update

UnsubscribeScope = Literal["anomaly", "reports", "all"]

UNSUBSCRIBE_TOKEN_MAX_AGE = timedelta(days=30)
UNSUBSCRIBE_TOKEN_SALT = "energyleaf.reports.unsubscribe"  # noqa: S105 - a salt, not a secret

# What each scope turns off: household flags, and whether report mails
# (`ReportSettings.receive_mails`) go too.
_HOUSEHOLD_FLAGS: dict[str, tuple[str, ...]] = {
    "anomaly": ("receive_anomaly_mails",),
    "reports": (),
    "all": ("receive_anomaly_mails",),
}
_REPORT_MAILS_OFF: dict[str, bool] = {"anomaly": False, "reports": True, "all": True}


@dataclass(frozen=True)
class UnsubscribeRequest:
    """A verified token: the user it names and the mails it turns off."""

    user: User
    scope: UnsubscribeScope


def unsubscribe_token_make(*, user_id: int, scope: UnsubscribeScope = "anomaly") -> str:
    """A URL-safe signed token naming `user_id` and `scope`, valid for
    `UNSUBSCRIBE_TOKEN_MAX_AGE` from now."""
    if scope not in get_args(UnsubscribeScope):
        raise ValueError(f"unknown unsubscribe scope: {scope}")
    return signing.dumps({"u": user_id, "s": scope}, salt=UNSUBSCRIBE_TOKEN_SALT)


def unsubscribe_token_read(*, token: str) -> UnsubscribeRequest:
    """Verify signature and age of `token` and load its user; changes nothing.

    Raises ValidationError for a tampered, expired or malformed token or an unknown user.
    """
    try:
        payload = signing.loads(
            token, salt=UNSUBSCRIBE_TOKEN_SALT, max_age=UNSUBSCRIBE_TOKEN_MAX_AGE
        )
    # `from None`: BadSignature's message quotes the link's signature, and a chained exception
    # would carry it into every traceback logged while the error page is rendered.
    except signing.SignatureExpired:
        raise ValidationError("This unsubscribe link has expired.", code="expired") from None
    except signing.BadSignature:
        raise ValidationError("This unsubscribe link is not valid.", code="invalid") from None
    if not isinstance(payload, dict):
        raise ValidationError("This unsubscribe link is not valid.", code="invalid")
    user_id, scope = payload.get("u"), payload.get("s")
    if not isinstance(user_id, int) or scope not in get_args(UnsubscribeScope):
        raise ValidationError("This unsubscribe link is not valid.", code="invalid")
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationError("This unsubscribe link is not valid.", code="invalid")
    return UnsubscribeRequest(user=user, scope=cast(UnsubscribeScope, scope))


@transaction.atomic
def unsubscribe_apply(*, token: str) -> User:
    """Turn off the mails named in `token` for exactly the user named in it, and return that user.

    Idempotent: a second use leaves the settings off. Raises ValidationError for a tampered,
    expired or malformed token.
    """
    request = unsubscribe_token_read(token=token)
    flags = _HOUSEHOLD_FLAGS[request.scope]
    household = Household.objects.filter(user=request.user).first()
    already_off = household is not None and not any(getattr(household, f) for f in flags)
    if flags and not already_off:
        household_update(user=request.user, data=dict.fromkeys(flags, False))
    if _REPORT_MAILS_OFF[request.scope]:
        # Only a row that is on (or missing: the default is on) is written, so a second use
        # changes nothing.
        receives = (
            ReportSettings.objects.filter(user=request.user)
            .values_list("receive_mails", flat=True)
            .first()
        )
        if receives is None or receives:
            report_settings_update(user_id=request.user.pk, receive_mails=False)
    return request.user
