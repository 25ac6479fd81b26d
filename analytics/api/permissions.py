"""Permissions of the analytics API beyond the model permissions of energyleaf.common."""

from __future__ import annotations

import hmac

from django.conf import settings
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from energyleaf.common.permissions import has_model_permissions


def _api_key_matches(request: Request) -> bool:
    key = str(settings.ENERGYLEAF_ML_API_KEY or "")
    if not key:
        return False
    for header in ("X-Api-Key", "Authorization"):
        given = request.headers.get(header)
        if given and hmac.compare_digest(given.encode(), key.encode()):
            return True
    return False


class HasApiKeyOrClassifyPermission(BasePermission):
    """The ML API key, or a JWT of a user holding `analytics.classify_peaks`."""

    message = "An ML API key or the token of staff who may classify peaks is required."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if _api_key_matches(request):
            return True
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if not has_model_permissions(user, "analytics.classify_peaks"):
            raise PermissionDenied(
                "Only staff who may classify peaks and holders of the ML API key may classify."
            )
        return True
