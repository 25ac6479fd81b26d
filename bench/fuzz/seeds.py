"""Seed corpora built from real, valid messages (and a few known-awkward ones) per harness.

Wire and endpoint inputs start with one selector byte (which decoder, which endpoint) followed by
the body. Endpoint bodies carry `TOKEN_PLACEHOLDER` (30 bytes, the length of a real token) where
the harness puts the live token of its sensor, so mutated bodies still authenticate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from analytics.api.protobuf import mapping as ml_mapping
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping

TOKEN_PLACEHOLDER = b"~" * 30
_TOKEN = TOKEN_PLACEHOLDER.decode()
_NOW_S = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())

# Same order as the harnesses' tables.
WIRE_DECODERS = (
    "decode_token_request",
    "decode_sensor_input",
    "decode_script_accepted",
    "decode_energy",
    "decode_gas",
    "decode_water",
    "decode_batch",
    "decode_ml_peak_request",
    "decode_ml_peak_response",
)
ENDPOINTS = (
    "/api/v1/token",
    "/api/v1/sensor_input",
    "/api/v1/script_accepted",
    "/api/v1/sensor_input/batch",
    "/api/v2/energy",
    "/api/v2/gas",
    "/api/v2/water",
)


def messages() -> dict[str, list[bytes]]:
    """Valid encoded messages per decoder name."""
    reading = pb.SensorDataRequestV2(
        access_token=_TOKEN,
        type=pb.DIGITAL_ELECTRICITY,
        value=1234.5,
        value_current=230.0,
        value_out=1.5,
    )
    reading_ts = pb.SensorDataRequestV2(
        access_token=_TOKEN, type=pb.DIGITAL_ELECTRICITY, value=1234.6
    )
    reading_ts.timestamp = _NOW_S * 1000
    legacy = pb.SensorDataRequest(access_token=_TOKEN, type=pb.DIGITAL_ELECTRICITY, value=1234.7)
    batch = mapping.encode_batch(
        mapping.BatchData(
            access_token=_TOKEN,
            sensor_type=1,
            readings=tuple(
                mapping.BatchReadingData(
                    value=1000 + i * 0.01,
                    value_current=None,
                    value_out=None,
                    timestamp_raw=(_NOW_S + 15 * i) * 10**9,
                )
                for i in range(3)
            ),
        )
    )
    energy = pb.EnergyDataRequest(
        access_token=_TOKEN, value=1500.25, timestamp="2026-01-01T10:00:00+01:00"
    )
    gas = pb.GasDataRequest(access_token=_TOKEN, value=321.5)
    water = pb.WaterDataRequest(access_token=_TOKEN, value=54.25)
    ml_request = ml_mapping.encode_ml_peak_request(
        [ml_mapping.MLPeakData(id="7", samples=(("2026-01-01T10:00:00Z", 2100.0),) * 3)]
    )
    ml_response = ml_mapping.encode_ml_peak_response([("7", [("kettle", 0.9), ("oven", 0.1)])])
    return {
        "decode_token_request": [
            mapping.encode_token_request(mapping.TokenRequestData("5C:CF:7F:12:34:56", 1, True)),
            mapping.encode_token_request(
                mapping.TokenRequestData("5C:CF:7F:12:34:56", 1, False), send_need_script=False
            ),
        ],
        "decode_sensor_input": [
            reading.SerializeToString(),
            reading_ts.SerializeToString(),
            legacy.SerializeToString(),
        ],
        "decode_script_accepted": [
            pb.ScriptAcceptedRequest(access_token=_TOKEN).SerializeToString()
        ],
        "decode_energy": [energy.SerializeToString()],
        "decode_gas": [gas.SerializeToString()],
        "decode_water": [water.SerializeToString()],
        "decode_batch": [batch],
        "decode_ml_peak_request": [ml_request],
        "decode_ml_peak_response": [ml_response],
    }


def wire_seeds() -> list[bytes]:
    found = messages()
    seeds: list[bytes] = []
    for index, name in enumerate(WIRE_DECODERS):
        seeds.extend(bytes([index]) + body for body in found[name])
        seeds.append(bytes([index]))  # empty body
        seeds.append(bytes([index]) + b"\x08\x96\x01\x12\x00\x7a\x02\xff\xff")  # unknown fields
    return seeds


def batch_json_seeds() -> list[bytes]:
    documents = [
        {"access_token": _TOKEN, "readings": [{"value": 1000.5, "timestamp": _NOW_S}]},
        {
            "access_token": _TOKEN,
            "type": 1,
            "readings": [
                {"value": 1000.5, "value_current": 230, "value_out": 0.5, "timestamp": _NOW_S},
                {"value": 1000.6, "timestamp": "2026-01-01T10:00:15+01:00"},
                {"value": 1000.7, "timestamp": (_NOW_S + 30) * 10**9},
                {"value": 1000.8},
            ],
        },
        {"access_token": _TOKEN, "readings": []},
    ]
    seeds = [json.dumps(document).encode() for document in documents]
    seeds += [b"[]", b'{"readings": [1e400]}', b'{"access_token": null}', b"NaN"]
    return seeds


def timestamp_seeds() -> list[bytes]:
    """Selector byte (0 integer, 1 text, 2 a list of integers, 3 assembled ISO text, 4 a digit
    run) then the value."""
    integers = (_NOW_S, _NOW_S * 1000, _NOW_S * 10**6, _NOW_S * 10**9, 10**11 - 1, 1, 2**63)
    texts = ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00+02:00", "1767261600", " 12 ")
    seeds = [b"\x00" + value.to_bytes(16, "little", signed=True) for value in integers]
    seeds += [b"\x01" + text.encode() for text in texts]
    seeds += [b"\x03" + bytes(range(40)), b"\x04" + bytes(range(20))]
    seeds.append(
        b"\x02" + b"".join(v.to_bytes(9, "little", signed=True) for v in (_NOW_S, _NOW_S * 1000))
    )
    return seeds


def endpoint_seeds() -> list[bytes]:
    """Selector byte (endpoint index; bit 7: send as application/json, bit 6: no content type)
    then the body."""
    found = messages()
    bodies = {
        "/api/v1/token": found["decode_token_request"],
        "/api/v1/sensor_input": found["decode_sensor_input"],
        "/api/v1/script_accepted": found["decode_script_accepted"],
        "/api/v1/sensor_input/batch": found["decode_batch"],
        "/api/v2/energy": found["decode_energy"],
        "/api/v2/gas": found["decode_gas"],
        "/api/v2/water": found["decode_water"],
    }
    seeds: list[bytes] = []
    for index, path in enumerate(ENDPOINTS):
        seeds.extend(bytes([index]) + body for body in bodies[path])
        seeds.append(bytes([index]))
    batch_index = ENDPOINTS.index("/api/v1/sensor_input/batch")
    seeds.extend(bytes([batch_index | 0x80]) + body for body in batch_json_seeds())
    return seeds


SEEDS = {
    "wire": wire_seeds,
    "batch_json": batch_json_seeds,
    "timestamps": timestamp_seeds,
    "endpoints": endpoint_seeds,
}
