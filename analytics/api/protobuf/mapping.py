"""Conversion between the ML endpoint's protobuf messages (`energyleaf_ml`, the layout of the
old ML service; docs/protocol.md, "Classification messages") and plain, typed Python values.

The only module that touches `energyleaf_ml_pb2`. Decoders follow the decoding contract of
`sensors.protobuf.mapping` (shared code in `sensors.protobuf.wire`: any undecodable
body raises `InvalidPayload`); encoders return the canonical serialization. Regenerate the
`_pb2` modules with `python -m analytics.api.protobuf.generate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sensors.protobuf.wire import (
    LEN,
    R_I64,
    R_LEN,
    InvalidPayload,
    Rule,
    Schema,
    decode_checked,
    serialize,
)

from . import energyleaf_ml_pb2 as ml_pb

__all__ = [
    "InvalidPayload",
    "MLPeakData",
    "MLPeakResult",
    "decode_ml_peak_request",
    "decode_ml_peak_response",
    "encode_ml_peak_request",
    "encode_ml_peak_response",
]


@dataclass(frozen=True, slots=True)
class MLPeakData:
    """One peak of a DeviceClassificationPeakRequest: samples are (ISO timestamp, power)."""

    id: str | None
    samples: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class MLPeakResult:
    """One item of a DeviceClassificationPeakResponse: devices are (name, confidence)."""

    id: str
    devices: tuple[tuple[str, float], ...]


# --- schemas (field number -> allowed wire types) -----------------------------------------------

ML_SAMPLE: Final[Schema] = {1: R_LEN, 2: R_I64}
ML_PEAK: Final[Schema] = {1: Rule(frozenset({LEN}), ML_SAMPLE), 2: R_LEN}
ML_PEAK_REQUEST: Final[Schema] = {1: Rule(frozenset({LEN}), ML_PEAK)}
ML_DEVICE: Final[Schema] = {1: R_LEN, 2: R_I64}
ML_ITEM: Final[Schema] = {1: R_LEN, 2: Rule(frozenset({LEN}), ML_DEVICE)}
ML_PEAK_RESPONSE: Final[Schema] = {1: Rule(frozenset({LEN}), ML_ITEM)}


def decode_ml_peak_request(body: bytes | bytearray | memoryview) -> list[MLPeakData]:
    """Decode a DeviceClassificationPeakRequest into its peaks, in order."""
    message = ml_pb.DeviceClassificationPeakRequest()
    decode_checked(message, body, ML_PEAK_REQUEST)
    return [
        MLPeakData(
            id=peak.id if peak.HasField("id") else None,
            samples=tuple((sample.timestamp, sample.power) for sample in peak.electricity),
        )
        for peak in message.peaks
    ]


def decode_ml_peak_response(body: bytes | bytearray | memoryview) -> list[MLPeakResult]:
    """Decode the ML service's DeviceClassificationPeakResponse into its items, in order."""
    message = ml_pb.DeviceClassificationPeakResponse()
    decode_checked(message, body, ML_PEAK_RESPONSE)
    return [
        MLPeakResult(
            id=item.id,
            devices=tuple((device.name, device.confidence) for device in item.devices),
        )
        for item in message.peaks
    ]


def encode_ml_peak_response(items: Sequence[tuple[str, Sequence[tuple[str, float]]]]) -> bytes:
    """Encode a DeviceClassificationPeakResponse from (peak id, [(device name, confidence)])."""
    response = ml_pb.DeviceClassificationPeakResponse(
        peaks=[
            ml_pb.DeviceClassificationPeakResponse.Item(
                id=peak_id,
                devices=[
                    ml_pb.DeviceClassificationPeakResponse.Item.Device(
                        name=name, confidence=confidence
                    )
                    for name, confidence in devices
                ],
            )
            for peak_id, devices in items
        ]
    )
    return serialize(response)


def encode_ml_peak_request(peaks: Sequence[MLPeakData]) -> bytes:
    """Encode a DeviceClassificationPeakRequest for the ML service."""
    request = ml_pb.DeviceClassificationPeakRequest(
        peaks=[
            ml_pb.DeviceClassificationRequest(
                id=peak.id,
                electricity=[
                    ml_pb.DeviceClassificationRequest.ElectricityInput(
                        timestamp=timestamp, power=power
                    )
                    for timestamp, power in peak.samples
                ],
            )
            for peak in peaks
        ]
    )
    return serialize(request)
