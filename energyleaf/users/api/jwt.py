"""JWTs that end when the user's password changes or the user is deactivated.

Every token (refresh and the access tokens made from it) carries the user's `auth_generation`
at login in the claim `gen`. Authentication, refresh and verify refuse a token whose generation
is not the user's current one, or whose user is inactive or gone. Raising the generation
(`User.set_password`, deactivation) therefore ends all of the user's tokens at once; no token
list is kept. Tokens issued before the claim existed count as generation 0.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer as SimpleTokenObtainPairSerializer,
)
from rest_framework_simplejwt.serializers import (
    TokenRefreshSerializer as SimpleTokenRefreshSerializer,
)
from rest_framework_simplejwt.serializers import (
    TokenVerifySerializer as SimpleTokenVerifySerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token, UntypedToken

from energyleaf.audit.models import AuditEvent
from energyleaf.users.models import User
from energyleaf.users.services.login_throttle import login_failure_audit

GENERATION_CLAIM = "gen"
REVOKED = "Token has been revoked"


def token_user_current(*, token: Token) -> User:
    """The active user a token belongs to if the token is of the user's current generation;
    TokenError otherwise (unknown or inactive user, password changed, deactivated since)."""
    user_id = token.payload.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise TokenError("Token contained no recognizable user identification")
    try:
        user = (
            get_user_model()
            .objects.only("pk", "is_active", "auth_generation")
            .get(**{api_settings.USER_ID_FIELD: user_id})
        )
    except (get_user_model().DoesNotExist, ValueError, TypeError) as exc:
        raise TokenError(REVOKED) from exc
    if not user.is_active or token.payload.get(GENERATION_CLAIM, 0) != user.auth_generation:
        raise TokenError(REVOKED)
    return user


class TokenObtainPairSerializer(SimpleTokenObtainPairSerializer):
    """Login: the token pair carries the user's generation; a failed password check is
    audited."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except AuthenticationFailed:
            if getattr(self, "user", None) is None:  # the credentials did not authenticate
                login_failure_audit(
                    account=attrs.get(self.username_field),
                    request=self.context.get("request"),
                    component=AuditEvent.Component.API,
                )
            raise

    @classmethod
    def get_token(cls, user: Any) -> Token:
        token = RefreshToken.for_user(user)
        token[GENERATION_CLAIM] = user.auth_generation
        return token


class TokenRefreshSerializer(SimpleTokenRefreshSerializer):
    """Refresh: only for a refresh token of the user's current generation, user active."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token_user_current(token=RefreshToken(attrs["refresh"]))
        return super().validate(attrs)


class TokenVerifySerializer(SimpleTokenVerifySerializer):
    """Verify: a valid signature is not enough; the token must still be usable."""

    def validate(self, attrs: dict[str, Any]) -> dict[Any, Any]:
        data = super().validate(attrs)
        token_user_current(token=UntypedToken(attrs["token"]))
        return data


class JWTAuthentication(SimpleJWTAuthentication):
    """simplejwt's authentication (active users only) that also refuses access tokens of an
    older generation: one query per request, as before."""

    def get_user(self, validated_token: Token) -> Any:
        user = super().get_user(validated_token)
        if validated_token.get(GENERATION_CLAIM, 0) != cast(User, user).auth_generation:
            raise InvalidToken(REVOKED)
        return user
