"""What every mail of reports shares in its wording: the app's base URL, signed unsubscribe
links and the mail language of a household (numbers, dates and money in that language:
`reports.compute.formatting`). Sending and recording is the outbox's (`outbox.py`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from energyleaf.users.models import Household, User

from .unsubscribe import UnsubscribeScope, unsubscribe_token_make

DEFAULT_APP_URL = "http://localhost:8000/"
MAIL_LANGUAGES = ("de", "en")
DEFAULT_MAIL_LANGUAGE = "de"


def app_url() -> str:
    """The web app's base URL with a trailing slash (`ENERGYLEAF_APP_URL`, default localhost)."""
    base = str(getattr(settings, "ENERGYLEAF_APP_URL", "") or DEFAULT_APP_URL)
    return base.rstrip("/") + "/"


def unsubscribe_url(*, user_id: int, scope: UnsubscribeScope = "anomaly") -> str:
    """The absolute unsubscribe link that turns off the `scope` mails of the user."""
    token = unsubscribe_token_make(user_id=user_id, scope=scope)
    return f"{app_url()}unsubscribe?{urlencode({'token': token}, safe=':')}"


def mail_language(household: Household | None) -> str:
    """`de` or `en` from the household's language; German when unknown."""
    language = ((household.language if household is not None else "") or "").lower()[:2]
    return language if language in MAIL_LANGUAGES else DEFAULT_MAIL_LANGUAGE


def mail_recipient_name(user: User) -> str:
    """How a mail greets the user: "first last" when both are known, else the username, else
    the address."""
    if user.first_name and user.last_name:
        return f"{user.first_name} {user.last_name}"
    return user.username or user.email


def templated_mail(
    *,
    template: str,
    context: dict[str, Any],
    to: str,
    headers: dict[str, str] | None = None,
) -> EmailMultiAlternatives:
    """A text mail with an HTML alternative from the templates `template`.subject.txt (white
    space collapsed to one line), `template`.txt and `template`.html, e.g.
    `reports/mail/study_dismissed.de`."""
    message = EmailMultiAlternatives(
        subject=" ".join(render_to_string(f"{template}.subject.txt", context).split()),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message
