"""The shared rounding helpers (energyleaf/common/numbers.py) and the DRF field built on them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import (
    EUR,
    KWH,
    REGISTER,
    WATTS,
    format_fixed,
    format_number,
    round_kwh,
    round_probability,
    round_to,
    round_watts,
)


def test_float_noise_is_rounded_away() -> None:
    assert round_kwh(2454.000000000036) == 2454.0
    assert round_kwh(0.12270000000000181) == 0.123
    assert round_watts(0.12270000000000181) == 0.1
    assert round_probability(0.8770000000000018) == 0.877
    assert round_to(12345.678949999, REGISTER) == 12345.6789
    assert round_to(Decimal("0.445"), EUR) == 0.45  # half up, like the report's costs


def test_tiny_and_negative_zero_values_become_plain_zero() -> None:
    assert round_kwh(1e-7) == 0.0
    assert str(round_kwh(-1e-7)) == "0.0"
    assert format_number(-1e-7, KWH) == "0"
    assert format_fixed(-1e-7, KWH) == "0.000"


def test_none_stays_none() -> None:
    assert round_kwh(None) is None
    assert format_number(None, KWH) == ""
    assert format_fixed(None, KWH) is None


def test_csv_text_is_fixed_point_without_trailing_zeros() -> None:
    assert format_number(2454.000000000036, KWH) == "2454"
    assert format_number(0.12270000000000181, KWH) == "0.123"
    assert format_number(1e-5, REGISTER) == "0"
    assert format_number(5e-5, REGISTER) == "0.0001"
    assert format_number(1e-5) == "0.00001"  # unrounded: still no exponent
    assert format_number(Decimal("1.5e3"), WATTS) == "1500"
    assert format_number(-150, WATTS) == "-150"


def test_text_for_people_has_the_units_decimals() -> None:
    assert format_fixed(0.12, KWH) == "0.120"
    assert format_fixed(Decimal("1000.030000"), REGISTER) == "1000.0300"


def test_huge_floats_do_not_break_the_rounding() -> None:
    assert round_kwh(1e300) == 1e300
    with pytest.raises(ValueError, match="finite"):
        round_kwh(float("nan"))


class _Row(serializers.Serializer):  # type: ignore[type-arg]
    energy = RoundedNumberField(decimals=KWH)
    power = RoundedNumberField(decimals=WATTS, allow_null=True)


def test_rounded_field_writes_json_numbers_without_noise() -> None:
    data = _Row({"energy": Decimal("0.120000"), "power": None}).data
    assert JSONRenderer().render(data) == b'{"energy":0.12,"power":null}'
    noisy = _Row({"energy": 2454.000000000036, "power": 0.12270000000000181}).data
    assert JSONRenderer().render(noisy) == b'{"energy":2454.0,"power":0.1}'
    assert json.loads(JSONRenderer().render(_Row({"energy": 1e-7, "power": -1e-7}).data)) == {
        "energy": 0.0,
        "power": 0.0,
    }
