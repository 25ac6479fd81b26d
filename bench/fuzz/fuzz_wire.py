"""Fuzz every protobuf decoder of `sensors.protobuf.mapping` and the wire scanner.

Input: one selector byte (which decoder) and the body. A decoder may only raise InvalidPayload;
and when it accepts a body, the pure-Python scanner `_scan` must accept it too (the decoders skip
the scan for canonical bodies on the claim that those always pass it). A last selector feeds the
body to `_scan` with every schema directly.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bench.fuzz import common

common.django_setup()

from bench.fuzz.seeds import WIRE_DECODERS  # noqa: E402
from sensors.protobuf import mapping  # noqa: E402

SCHEMAS: dict[str, Any] = {
    "decode_token_request": mapping._TOKEN_REQUEST,
    "decode_sensor_input": mapping._SENSOR_INPUT,
    "decode_script_accepted": mapping._SCRIPT_ACCEPTED,
    "decode_energy": mapping._ENERGY,
    "decode_gas": mapping._GAS_OR_WATER,
    "decode_water": mapping._GAS_OR_WATER,
    "decode_batch": mapping._BATCH,
    "decode_ml_peak_request": mapping._ML_PEAK_REQUEST,
    "decode_ml_peak_response": mapping._ML_PEAK_RESPONSE,
}


def check(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % (len(WIRE_DECODERS) + 1), data[1:]
    if selector == len(WIRE_DECODERS):
        for schema in SCHEMAS.values():
            with contextlib.suppress(mapping.InvalidPayload):
                mapping._scan(body, 0, len(body), schema)
        return
    name = WIRE_DECODERS[selector]
    try:
        getattr(mapping, name)(body)
    except mapping.InvalidPayload:
        return
    # Accepted: the scanner must agree (raises InvalidPayload, i.e. a crash here, if not).
    mapping._scan(body, 0, len(body), SCHEMAS[name])


if __name__ == "__main__":
    common.main(check, instrument=["sensors.protobuf.mapping"])
