"""MAC addresses, the sensors' identity: one canonical spelling for every way one is written.

A sensor is stored and found by `AA:BB:CC:DD:EE:FF` (upper case, colons). Clients, admins and
scripts may write the same address with dashes, Cisco dots, no separators or in any letter case;
`canonical_mac` maps every such spelling to the canonical one, so one device is one sensor.
Pure Python, no Django.
"""

from __future__ import annotations

import re

_SPELLINGS = (
    re.compile(r"[0-9A-Fa-f]{2}(?P<sep>[:\-])(?:[0-9A-Fa-f]{2}(?P=sep)){4}[0-9A-Fa-f]{2}"),
    re.compile(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"),
    re.compile(r"[0-9A-Fa-f]{12}"),
)
_SEPARATORS = re.compile(r"[:.\-]")


class InvalidMacError(ValueError):
    """The text is not a MAC address in any accepted spelling."""


def canonical_mac(value: str) -> str:
    """`AA:BB:CC:DD:EE:FF` for `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`,
    `AABBCCDDEEFF` (surrounding whitespace ignored); InvalidMacError for anything else,
    including mixed separators."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > 17 or not any(pattern.fullmatch(text) for pattern in _SPELLINGS):
        raise InvalidMacError(f"not a MAC address: {value[:32]!r}")
    digits = _SEPARATORS.sub("", text).upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def canonical_mac_or_none(value: str) -> str | None:
    """The canonical spelling, or None when `value` is not a MAC address."""
    try:
        return canonical_mac(value)
    except InvalidMacError:
        return None
