"""Wire-level tests of `analytics.api.protobuf.mapping`, the ML endpoint's messages.

Pure tests: no Django, no database.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings

from analytics.api.protobuf import energyleaf_ml_pb2 as ml_pb
from analytics.api.protobuf import mapping
from sensors.protobuf.wire import InvalidPayload, Schema, scan_fields
from sensors.tests.test_protobuf_wire import PROTOBUF_BODIES

DECODERS: list[tuple[Callable[[bytes], object], Schema]] = [
    (mapping.decode_ml_peak_request, mapping.ML_PEAK_REQUEST),
    (mapping.decode_ml_peak_response, mapping.ML_PEAK_RESPONSE),
]


def test_ml_peak_request_and_response() -> None:
    request = ml_pb.DeviceClassificationPeakRequest(
        peaks=[
            ml_pb.DeviceClassificationRequest(
                id="42",
                electricity=[
                    ml_pb.DeviceClassificationRequest.ElectricityInput(
                        timestamp="2024-07-26T08:00:00Z", power=1200.5
                    )
                ],
            ),
            ml_pb.DeviceClassificationRequest(),
        ]
    )
    peaks = mapping.decode_ml_peak_request(request.SerializeToString())
    assert peaks == [
        mapping.MLPeakData("42", (("2024-07-26T08:00:00Z", 1200.5),)),
        mapping.MLPeakData(None, ()),
    ]
    assert mapping.encode_ml_peak_request(peaks) == request.SerializeToString()

    body = mapping.encode_ml_peak_response([("42", [("fridge", 0.9), ("freezer", 0.1)])])
    parsed = ml_pb.DeviceClassificationPeakResponse.FromString(body)
    assert parsed.peaks[0].id == "42"
    assert [(d.name, d.confidence) for d in parsed.peaks[0].devices] == [
        ("fridge", 0.9),
        ("freezer", 0.1),
    ]
    assert mapping.decode_ml_peak_response(body) == [
        mapping.MLPeakResult("42", (("fridge", 0.9), ("freezer", 0.1)))
    ]


def test_ml_classification_map_field_exists() -> None:
    output = ml_pb.DeviceClassificationResponse.ElectricityOutput(classification={"fridge": 0.8})
    assert dict(output.classification) == {"fridge": 0.8}


def test_empty_body_is_an_empty_request() -> None:
    assert mapping.decode_ml_peak_request(b"") == []


@pytest.mark.parametrize(
    ("decode", "schema"), DECODERS, ids=lambda value: getattr(value, "__name__", "schema")
)
@settings(max_examples=200, deadline=None)
@given(body=PROTOBUF_BODIES)
def test_decoders_return_data_or_raise_invalid_payload_and_agree_with_the_scanner(
    decode: Callable[[bytes], object], schema: Schema, body: bytes
) -> None:
    try:
        result = decode(body)
    except InvalidPayload:
        return
    assert result is not None
    scan_fields(body, 0, len(body), schema)  # the fast path accepts nothing the scan rejects


def test_generated_code_is_up_to_date() -> None:
    pytest.importorskip("grpc_tools")
    repo_root = Path(mapping.__file__).resolve().parents[3]
    completed = subprocess.run(
        [sys.executable, "-m", "analytics.api.protobuf.generate", "--check"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
