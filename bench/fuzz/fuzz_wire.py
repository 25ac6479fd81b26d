"""Fuzz every protobuf decoder (`sensors.protobuf.mapping`, `analytics.api.protobuf.mapping`) and
the wire scanner (`sensors.protobuf.wire`).

Input: one selector byte (which decoder) and the body. A decoder may only raise InvalidPayload;
and when it accepts a body, the pure-Python scanner `scan_fields` must accept it too (the decoders
skip the scan for canonical bodies on the claim that those always pass it). A last selector feeds
the body to `scan_fields` with every schema directly.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bench.fuzz import common

common.django_setup()

from analytics.api.protobuf import mapping as ml_mapping  # noqa: E402
from bench.fuzz.seeds import WIRE_DECODERS  # noqa: E402
from sensors.protobuf import mapping  # noqa: E402
from sensors.protobuf import wire as protobuf_wire  # noqa: E402

# Decoder name -> (decoder, schema).
DECODERS: dict[str, tuple[Any, Any]] = {
    "decode_token_request": (mapping.decode_token_request, mapping._TOKEN_REQUEST),
    "decode_sensor_input": (mapping.decode_sensor_input, mapping._SENSOR_INPUT),
    "decode_script_accepted": (mapping.decode_script_accepted, mapping._SCRIPT_ACCEPTED),
    "decode_energy": (mapping.decode_energy, mapping._ENERGY),
    "decode_gas": (mapping.decode_gas, mapping._GAS_OR_WATER),
    "decode_water": (mapping.decode_water, mapping._GAS_OR_WATER),
    "decode_batch": (mapping.decode_batch, mapping._BATCH),
    "decode_ml_peak_request": (ml_mapping.decode_ml_peak_request, ml_mapping.ML_PEAK_REQUEST),
    "decode_ml_peak_response": (ml_mapping.decode_ml_peak_response, ml_mapping.ML_PEAK_RESPONSE),
}


def check(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % (len(WIRE_DECODERS) + 1), data[1:]
    if selector == len(WIRE_DECODERS):
        for _, schema in DECODERS.values():
            with contextlib.suppress(protobuf_wire.InvalidPayload):
                protobuf_wire.scan_fields(body, 0, len(body), schema)
        return
    decode, schema = DECODERS[WIRE_DECODERS[selector]]
    try:
        decode(body)
    except protobuf_wire.InvalidPayload:
        return
    # Accepted: the scanner must agree (raises InvalidPayload, i.e. a crash here, if not).
    protobuf_wire.scan_fields(body, 0, len(body), schema)


if __name__ == "__main__":
    common.main(
        check,
        instrument=[
            "sensors.protobuf.mapping",
            "analytics.api.protobuf.mapping",
            "sensors.protobuf.wire",
        ],
    )
