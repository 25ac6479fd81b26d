from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from .serializers import MeOutputSerializer


class MeView(APIView):
    """The logged-in user with household and experiment data (own data only)."""

    @extend_schema(responses=MeOutputSerializer, operation_id="me_retrieve")
    def get(self, request: Request) -> Response:
        user = selectors.user_with_household(user_id=cast(int, request.user.pk))
        return Response(MeOutputSerializer(user).data)
