"""Web pages of reports: the unsubscribe confirmation (GET, changes nothing) and action (POST).

The signed token is the only thing that chooses the user; no login is needed, the form is CSRF
protected, and the pages are neither cached nor indexed and send no referrer (the URL holds the
token).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from energyleaf.users.models import Household, User
from reports.services.unsubscribe import (
    UnsubscribeScope,
    unsubscribe_apply,
    unsubscribe_token_read,
)

_SCOPE_LABELS: dict[str, dict[str, str]] = {
    "de": {
        "anomaly": "Benachrichtigungen über ungewöhnlichen Verbrauch",
        "reports": "Verbrauchsberichte per E-Mail",
        "all": "E-Mails von Energyleaf",
    },
    "en": {
        "anomaly": "unusual consumption alerts",
        "reports": "consumption report mails",
        "all": "mails from Energyleaf",
    },
}


def mask_email(email: str) -> str:
    """`anna.meier@example.org` → `a***@e***.org`: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    name, dot, tld = domain.rpartition(".")
    if not dot:
        name, tld = domain, ""
    masked_domain = f"{name[:1]}***{dot}{tld}" if domain else ""
    return f"{local[:1]}***@{masked_domain}"


@method_decorator(never_cache, name="dispatch")
class UnsubscribeView(View):
    """GET shows what will be turned off for whom; POST with the token turns it off."""

    def get(self, request: HttpRequest) -> HttpResponse:
        token = request.GET.get("token", "")
        try:
            unsubscribe = unsubscribe_token_read(token=token)
        except ValidationError:
            return _invalid(request)
        context = _context(unsubscribe.user, unsubscribe.scope)
        context["token"] = token
        return _private(render(request, "reports/unsubscribe_confirm.html", context))

    def post(self, request: HttpRequest) -> HttpResponse:
        token = request.POST.get("token", "")
        try:
            unsubscribe = unsubscribe_token_read(token=token)
            user = unsubscribe_apply(token=token)
        except ValidationError:
            return _invalid(request)
        return _private(
            render(request, "reports/unsubscribe_done.html", _context(user, unsubscribe.scope))
        )


def _context(user: User, scope: UnsubscribeScope) -> dict[str, str]:
    household = Household.objects.filter(user=user).first()
    language = household.language if household and household.language == "en" else "de"
    return {
        "language": language,
        "scope_label": _SCOPE_LABELS[language][scope],
        "masked_email": mask_email(user.email),
    }


def _invalid(request: HttpRequest) -> HttpResponse:
    # German first, English below (the household is unknown). `language` is given so the
    # template never fails a lookup: Django logs a failed lookup at DEBUG with the whole context,
    # which holds the request and with it the link's token.
    return _private(
        render(request, "reports/unsubscribe_invalid.html", {"language": "de"}, status=400)
    )


def _private(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
