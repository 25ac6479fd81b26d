"""Operator triggers kept from the old platform's cron endpoints (docs/design.md, difference 9).

`GET /api/v1/mark_peaks` and `GET /api/v1/anomaly` with `Authorization: Bearer <CRON_SECRET>`
enqueue a detection fan-out (peaks, anomalies) and answer 202; any other request is a real 401.
The secret is compared in constant time; an empty configured secret refuses every request.
"""

from __future__ import annotations

import hmac
from typing import ClassVar

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.services.detection import sequences_detect_enqueue

UNAUTHORIZED = {"status": 401, "statusMessage": "Unauthorized"}


def cron_request_authorized(request: Request) -> bool:
    """Whether the request carries `Authorization: Bearer <ENERGYLEAF_CRON_SECRET>`."""
    secret = str(getattr(settings, "ENERGYLEAF_CRON_SECRET", "") or "")
    if not secret:
        return False
    header = str(request.headers.get("Authorization", ""))
    expected = f"Bearer {secret}"
    return hmac.compare_digest(header.encode(), expected.encode())


class _CronTriggerView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    kinds: ClassVar[tuple[str, ...]] = ()
    status_message: ClassVar[str] = ""

    def get(self, request: Request) -> Response:
        if not cron_request_authorized(request):
            return Response(UNAUTHORIZED, status=401)
        sequences_detect_enqueue(kinds=self.kinds)
        return Response({"status": 202, "statusMessage": self.status_message}, status=202)


@extend_schema(exclude=True)
class CronMarkPeaksView(_CronTriggerView):
    """Enqueue peak detection for every assigned electricity sensor (the last half hour)."""

    kinds = ("peak",)
    status_message = "Peak detection enqueued."


@extend_schema(exclude=True)
class CronAnomalyView(_CronTriggerView):
    """Enqueue anomaly detection for every assigned electricity sensor (the last half hour)."""

    kinds = ("anomaly",)
    status_message = "Anomaly detection enqueued."
