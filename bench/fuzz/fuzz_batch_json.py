"""Fuzz the JSON form of the batch upload: the size-limited JSON parser, then the serializer.

The parser may only raise ParseError (400 `Invalid data`); the serializer only reports errors.
Accepted readings must be finite numbers with timestamps the ingestion can read.
"""

from __future__ import annotations

import io
import math

from bench.fuzz import common

common.django_setup()

from rest_framework.exceptions import ParseError  # noqa: E402

from sensors.api.parsers import LimitedJSONParser  # noqa: E402
from sensors.api.serializers import BatchInputSerializer  # noqa: E402

PARSER = LimitedJSONParser()


def check(data: bytes) -> None:
    try:
        document = PARSER.parse(io.BytesIO(data))
    except ParseError:
        return
    serializer = BatchInputSerializer(data=document)
    if not serializer.is_valid():
        return
    for reading in serializer.validated_data["readings"]:
        for name in ("value", "value_current", "value_out"):
            value = reading[name]
            assert value is None or (isinstance(value, float) and math.isfinite(value)), reading
        stamp = reading["timestamp"]
        assert stamp is None or isinstance(stamp, int | str), reading


if __name__ == "__main__":
    common.main(
        check, instrument=["sensors.api.parsers", "sensors.api.serializers", "json.decoder"]
    )
