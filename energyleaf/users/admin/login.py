"""The admin login, rate-limited like the JWT login (per address and per account, before the
password is checked): a readable message on the login page, answered with status 429."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from energyleaf.audit.models import AuditEvent
from energyleaf.common.throttling import client_address
from energyleaf.users.services.login_throttle import (
    login_failure_audit,
    login_success_remember,
    login_throttle_wait,
    retry_after,
)

THROTTLED_ATTRIBUTE = "energyleaf_login_retry_after"


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """AdminAuthenticationForm that refuses the attempt while the address or the account is
    over its login rate, without checking the password."""

    def clean(self) -> dict[str, Any]:
        if self.request is not None:
            wait = login_throttle_wait(
                address=client_address(self.request),
                account=self.cleaned_data.get("username"),
                component=AuditEvent.Component.ADMIN,
            )
            if wait is not None:
                seconds = retry_after(wait)
                setattr(self.request, THROTTLED_ATTRIBUTE, seconds)
                raise ValidationError(
                    "Too many login attempts. Please wait %(seconds)d seconds and try again.",
                    code="throttled",
                    params={"seconds": seconds},
                )
        try:
            cleaned = super().clean()
        except ValidationError:
            if self.user_cache is None and self.cleaned_data.get("password"):
                # The password check ran and failed (not a missing field, not a refused role).
                login_failure_audit(
                    account=self.cleaned_data.get("username"),
                    request=self.request,
                    component=AuditEvent.Component.ADMIN,
                )
            raise
        if self.request is not None:
            login_success_remember(
                address=client_address(self.request), account=self.cleaned_data.get("username")
            )
        return cleaned


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """The admin site's login view, answered with 429 and Retry-After when throttled."""
    response = admin.site.login(request, extra_context)
    seconds = getattr(request, THROTTLED_ATTRIBUTE, None)
    if seconds is not None:
        response.status_code = 429
        response["Retry-After"] = str(seconds)
    return response
