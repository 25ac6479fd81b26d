"""The bare view: what `/api/v1/sensor_input` is measured against.

A plain Django function view behind the same middleware: it reads the SensorDataRequestV2 body,
takes the access token (field 1) with a minimal wire read, does ONE indexed SELECT (the token's
sensor by `token_hash`) and ONE INSERT (a reading at server time), and answers the 3-byte
SensorDataResponse `status: 200` as a one-chunk streaming response, like the real endpoint.
No validation, no transaction, no plausibility: the floor of the work a reading needs.

`noop_sensor_input` reads the body and answers the same without touching the database: the
floor of gunicorn + Django (middleware, routing, chunked answer) on its own.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sensors.models import Reading, SensorToken
from sensors.services.tokens import token_hash

OK_BODY = b"\x08\xc8\x01"  # SensorDataResponse(status=200)
ZERO = Decimal(0)


def _access_token(body: bytes) -> str | None:
    """Field 1 (string) of a SensorDataRequestV2 that starts with it, as every client sends."""
    if len(body) < 2 or body[0] != 0x0A or body[1] >= 0x80:
        return None
    end = 2 + body[1]
    if end > len(body):
        return None
    return body[2:end].decode("utf-8", "replace")


@csrf_exempt
def bare_sensor_input(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    token = _access_token(request.body)
    if token is None:
        return HttpResponse(status=400)
    sensor_id = (
        SensorToken.objects.filter(token_hash=token_hash(token))
        .values_list("sensor_id", flat=True)
        .first()
    )
    if sensor_id is None:
        return HttpResponse(status=401)
    now = timezone.now()
    Reading.objects.create(
        sensor_id=sensor_id, timestamp=now, value=ZERO, consumption=ZERO, received_at=now
    )
    return StreamingHttpResponse(
        iter((OK_BODY,)), status=200, content_type="application/x-protobuf"
    )


@csrf_exempt
def noop_sensor_input(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if request.method != "POST" or _access_token(request.body) is None:
        return HttpResponse(status=400)
    return StreamingHttpResponse(
        iter((OK_BODY,)), status=200, content_type="application/x-protobuf"
    )
