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

from typing import Any, cast

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.protobuf.mapping import (
    InvalidPayload,
    decode_ml_peak_request,
    encode_ml_peak_response,
)
from analytics.services.suggestions import SampledPeak, samples_classify
from energyleaf.common.numbers import round_probability
from energyleaf.common.parsers import JSONParser

from ..parsers import PROTOBUF, ProtobufBytesParser
from ..permissions import HasApiKeyOrClassifyPermission
from ..serializers.ml import (
    MAX_PEAKS_PER_REQUEST,
    MlOutputSerializer,
    MlPeakInputSerializer,
    MlRequestInputSerializer,
)


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
