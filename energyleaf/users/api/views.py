from __future__ import annotations

from typing import Any, NoReturn, cast

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from energyleaf.common.throttling import client_address
from energyleaf.users.api.jwt import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
    TokenVerifySerializer,
)
from energyleaf.users.models import User
from energyleaf.users.services.login_throttle import login_success_remember, login_throttle_wait

from .. import selectors
from ..services import household_update
from .serializers import MeOutputSerializer, MeUpdateInputSerializer


class MeView(APIView):
    """The logged-in user with household and experiment data (own data only); PATCH changes the
    household's own data and settings (history kept, as for every change of a household)."""

    @extend_schema(responses=MeOutputSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        user = selectors.user_with_household(user_id=cast(int, request.user.pk))
        return Response(MeOutputSerializer(user).data)

    @extend_schema(
        request=MeUpdateInputSerializer,
        responses={
            200: MeOutputSerializer,
            400: OpenApiResponse(description="A field is wrong (`extra.fields` names each)"),
            404: OpenApiResponse(description="`no_household`: the account has no household"),
        },
        operation_id="me_update",
    )
    def patch(self, request: Request) -> Response:
        given = MeUpdateInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        changes = given.validated_data["household"]
        if changes:
            household_update(user=cast(User, request.user), data=changes, must_exist=True)
        user = selectors.user_with_household(user_id=cast(int, request.user.pk))
        return Response(MeOutputSerializer(user).data)


class LoginThrottle(BaseThrottle):
    """Login attempts per address and per account (`energyleaf.users.services.login_throttle`),
    counted before the password is checked."""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        data: Any = request.data
        account = data.get("email") if isinstance(data, dict) else None
        self.wait_seconds = login_throttle_wait(
            address=self.get_ident(request), account=account, component="api"
        )
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


class LoginView(TokenObtainPairView):
    """JWT login (e-mail and password): a token pair that ends when the password changes or
    the user is deactivated. Rate-limited per address and per account (429 with Retry-After)."""

    serializer_class = TokenObtainPairSerializer
    throttle_classes = (LoginThrottle,)

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise Throttled(wait=wait, detail="Too many login attempts.")

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            data: Any = request.data
            login_success_remember(address=client_address(request), account=data.get("email"))
        return response


class RefreshView(TokenRefreshView):
    """A new access token for a refresh token of the user's current password and status."""

    serializer_class = TokenRefreshSerializer


class VerifyView(TokenVerifyView):
    """200 only for a token that would still be accepted (signature, expiry, user active,
    password unchanged)."""

    serializer_class = TokenVerifySerializer
