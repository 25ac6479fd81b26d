"""`POST /api/v1/ml`: classify peaks given as power samples with the in-process classifier.

Authentication: the `X-Api-Key` header (or, as the reference's clients send it, the whole
`Authorization` header) equal to `ENERGYLEAF_ML_API_KEY`, or the JWT of a user holding the
permission `analytics.classify_peaks` (role researcher or administrator). Bodies:

* JSON, the reference's shape for one peak `{"id": "…", "electricity": [{"timestamp": ISO-8601,
  "power": W}, …]}` or several `{"peaks": [that, …]}`; answered as JSON
  `{"model_version": …, "peaks": [{"id": …, "devices": [{"name": category, "confidence": p}]}]}`
  with every category the model knows, most probable first;
* `Content-Type: application/x-protobuf`, an `energyleaf_ml.DeviceClassificationPeakRequest`;
  answered with a `DeviceClassificationPeakResponse` (device names are category keys).

Power is the mean power in W over the interval that ends at the sample's timestamp; timestamps
without an offset are UTC. Bad input is a 400 JSON error and nothing is stored.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any, cast

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.protobuf.mapping import (
    InvalidPayload,
    decode_ml_peak_request,
    encode_ml_peak_response,
)
from analytics.services.suggestions import MAX_SAMPLES_PER_PEAK, SampledPeak, samples_classify
from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import PROBABILITY, round_probability
from energyleaf.common.parsers import BoundedParser, JSONParser
from energyleaf.common.permissions import has_model_permissions

PROTOBUF = "application/x-protobuf"
MAX_PEAKS_PER_REQUEST = 100


class ProtobufBytesParser(BoundedParser):
    """The raw body of an `application/x-protobuf` request, up to DATA_UPLOAD_MAX_MEMORY_SIZE
    (a longer one is a 400)."""

    media_type = PROTOBUF

    def too_large(self) -> Exception:
        return ParseError(f"Request body larger than {self.body_limit()} bytes.")


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


class _SampleSerializer(serializers.Serializer[Any]):
    timestamp = serializers.CharField(max_length=64)
    power = serializers.FloatField(min_value=0, max_value=1e7, help_text="W")

    def validate_timestamp(self, value: str) -> datetime:
        parsed = parse_datetime(value.strip())
        if parsed is None:
            raise serializers.ValidationError("Not an ISO-8601 date-time.")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed


class MlPeakInputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    electricity = serializers.ListField(
        child=_SampleSerializer(), allow_empty=False, max_length=MAX_SAMPLES_PER_PEAK
    )


class MlRequestInputSerializer(serializers.Serializer[Any]):
    """One peak (`electricity`, `id`) or several (`peaks`)."""

    id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    electricity = serializers.ListField(
        child=_SampleSerializer(), required=False, max_length=MAX_SAMPLES_PER_PEAK
    )
    peaks = serializers.ListField(
        child=MlPeakInputSerializer(),
        required=False,
        allow_empty=False,
        max_length=MAX_PEAKS_PER_REQUEST,
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("peaks" in attrs) == ("electricity" in attrs):
            raise serializers.ValidationError("Send either `electricity` (one peak) or `peaks`.")
        if "electricity" in attrs and not attrs["electricity"]:
            raise serializers.ValidationError({"electricity": "A peak needs at least one sample."})
        return attrs


class _DeviceOutputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="Device category key")
    confidence = RoundedNumberField(decimals=PROBABILITY, help_text="Probability 0..1")


class _PeakOutputSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    devices = _DeviceOutputSerializer(many=True)


class MlOutputSerializer(serializers.Serializer[Any]):
    model_version = serializers.CharField()
    peaks = _PeakOutputSerializer(many=True)


def _json_peaks(data: Any) -> list[SampledPeak]:
    body = MlRequestInputSerializer(data=data)
    body.is_valid(raise_exception=True)
    validated = cast(dict[str, Any], body.validated_data)
    raw = validated.get("peaks") or [
        {"id": validated.get("id", ""), "electricity": validated["electricity"]}
    ]
    return [
        SampledPeak(
            id=str(peak.get("id") or index),
            samples=[(sample["timestamp"], sample["power"]) for sample in peak["electricity"]],
        )
        for index, peak in enumerate(raw)
    ]


def _protobuf_peaks(body: bytes) -> list[SampledPeak]:
    try:
        decoded = decode_ml_peak_request(body)
    except InvalidPayload as error:
        raise ValidationError(
            {"body": "Not a DeviceClassificationPeakRequest protobuf message."}
        ) from error
    if not decoded:
        raise ValidationError({"peaks": "The request has no peaks."})
    if len(decoded) > MAX_PEAKS_PER_REQUEST:
        raise ValidationError({"peaks": f"At most {MAX_PEAKS_PER_REQUEST} peaks per request."})
    peaks = []
    for index, peak in enumerate(decoded):
        samples = MlPeakInputSerializer(
            data={"electricity": [{"timestamp": t, "power": p} for t, p in peak.samples]}
        )
        if not samples.is_valid():
            raise ValidationError({f"peaks[{index}]": samples.errors})
        rows = cast(dict[str, Any], samples.validated_data)["electricity"]
        peaks.append(
            SampledPeak(
                id=peak.id or str(index),
                samples=[(row["timestamp"], row["power"]) for row in rows],
            )
        )
    return peaks


class MlClassifyView(APIView):
    """Device categories with probabilities for peaks given as power samples."""

    permission_classes = (HasApiKeyOrClassifyPermission,)
    parser_classes = (JSONParser, ProtobufBytesParser)

    @extend_schema(
        operation_id="ml_classify",
        request={"application/json": MlRequestInputSerializer, PROTOBUF: OpenApiTypes.BINARY},
        responses={200: MlOutputSerializer, (200, PROTOBUF): OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "X-Api-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description=(
                    "ML API key (ENERGYLEAF_ML_API_KEY); or the JWT of staff holding "
                    "analytics.classify_peaks."
                ),
            )
        ],
        examples=[
            OpenApiExample(
                "One peak (reference shape)",
                request_only=True,
                value={
                    "id": "42",
                    "electricity": [
                        {"timestamp": "2024-05-01T07:00:15Z", "power": 2150.0},
                        {"timestamp": "2024-05-01T07:00:30Z", "power": 2170.0},
                    ],
                },
            )
        ],
    )
    def post(self, request: Request) -> Response | HttpResponse:
        as_protobuf = request.content_type.split(";")[0].strip().lower() == PROTOBUF
        if as_protobuf:
            peaks = _protobuf_peaks(cast(bytes, request.data))
        else:
            peaks = _json_peaks(request.data)
        results, version = samples_classify(peaks)
        ranked = [
            (peak_id, sorted(probs.items(), key=lambda item: (-item[1], item[0])))
            for peak_id, probs in results
        ]
        if as_protobuf:
            return HttpResponse(
                encode_ml_peak_response(ranked), content_type=PROTOBUF, status=status.HTTP_200_OK
            )
        return Response(
            {
                "model_version": version,
                "peaks": [
                    {
                        "id": peak_id,
                        "devices": [
                            {"name": n, "confidence": round_probability(c)} for n, c in devices
                        ],
                    }
                    for peak_id, devices in ranked
                ],
            }
        )
