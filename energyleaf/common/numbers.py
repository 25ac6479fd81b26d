"""Numbers as people and programs read them: rounded at the edge to the precision of their unit.

Storage keeps what it has (registers as numeric(30, 6), peaks and power as floats); every place
that prints a number rounds it here first, so float sums never show as `2454.000000000036` or
`0.12270000000000181`, and nothing is ever written with an exponent (`1e-05`).

Decimals per quantity (module constants):

- REGISTER = 4: a meter register, and a reading's consumption or feed-in (the difference of two
  registers), in kWh (m³ for gas and water). Tasmota sends kWh with up to 4 decimals; a litre of
  gas or water is 0.001 m³, so no register digit is lost.
- KWH = 3 (the Wh): energy over a period (aggregates, peaks, reports, goals).
- WATTS = 1: power in W.
- EUR = 2 (the cent): costs and monthly prices; PRICE_PER_KWH = 4: the working price in €/kWh.
- PROBABILITY = 3: probabilities, shares and R² (0…1); PERCENT = 1; HOURS = 2.

Representations (one per quantity, the same everywhere):

- JSON: every quantity is a JSON **number**, rounded to its decimals
  (`energyleaf.common.fields.RoundedNumberField`).
  Python writes a rounded float as its shortest text, so `2454.000000000036` kWh is `2454.0` and
  `0.12270000000000181` is `0.123`; -0.0 becomes 0.0. Decimals from the database are rounded
  the same way, so a report's kWh is a number like an aggregate's, never a string.
- CSV: fixed-point text with at most the unit's decimals and no trailing zeros (`12345.678`,
  `0`, `0.15`, as the reference's exports), never an exponent (`format_number`).
- Admin and other pages for people: fixed-point text with exactly the unit's decimals
  (`format_fixed`), so a column lines up.

Rounding is half up on the exact value (a float's binary value, a Decimal's digits). No Django here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

REGISTER = 4
KWH = 3
WATTS = 1
EUR = 2
PRICE_PER_KWH = 4
PROBABILITY = 3
PERCENT = 1
HOURS = 2

Number = Decimal | float | int

_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(0, 10)}
_CONTEXT = Context(prec=400)  # room for any float's integer digits plus the decimals


def rounded_decimal(value: Number | None, decimals: int) -> Decimal | None:
    """`value` rounded half up to `decimals` places as a Decimal with exactly that many places
    (None stays None; NaN and infinities are refused with ValueError)."""
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    result = number.quantize(_QUANTA[decimals], rounding=ROUND_HALF_UP, context=_CONTEXT)
    return result if result else abs(result)  # -0.000 -> 0.000


def round_to(value: Number | None, decimals: int) -> float | None:
    """`value` rounded to `decimals` places as a float (for JSON); None stays None."""
    number = rounded_decimal(value, decimals)
    return None if number is None else float(number) + 0.0


def round_kwh(value: Number | None) -> float | None:
    """Energy over a period in kWh, to the Wh."""
    return round_to(value, KWH)


def round_watts(value: Number | None) -> float | None:
    """Power in W, to 0.1 W."""
    return round_to(value, WATTS)


def round_probability(value: Number | None) -> float | None:
    """A probability, share or R² (0…1), to 3 decimals."""
    return round_to(value, PROBABILITY)


def format_number(value: Number | None, decimals: int | None = None) -> str:
    """CSV text: fixed point, dot decimal, no thousands separator, no trailing zeros
    (`12345.678`, `0`, `0.15`), rounded to `decimals` places when given; None is empty."""
    if value is None:
        return ""
    if decimals is not None:
        number = rounded_decimal(value, decimals) or Decimal(0)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        number = Decimal(value)
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def format_fixed(value: Number | None, decimals: int) -> str | None:
    """Text for people: fixed point with exactly `decimals` places (`0.120`); None stays None."""
    number = rounded_decimal(value, decimals)
    return None if number is None else format(number, "f")
