"""OpenAPI (drf-spectacular) descriptions of our JWT classes: the same as simplejwt's, whose
extensions match only simplejwt's own classes. Imported when the app is ready."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
    TokenVerifySerializerExtension,
)


class EnergyleafJWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    target_class = "energyleaf.users.api.jwt.JWTAuthentication"


class EnergyleafTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):  # type: ignore[no-untyped-call]
    target_class = "energyleaf.users.api.jwt.TokenObtainPairSerializer"


class EnergyleafTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):  # type: ignore[no-untyped-call]
    target_class = "energyleaf.users.api.jwt.TokenRefreshSerializer"


class EnergyleafTokenVerifySerializerExtension(TokenVerifySerializerExtension):  # type: ignore[no-untyped-call]
    target_class = "energyleaf.users.api.jwt.TokenVerifySerializer"
