"""Fuzz the normalisation of client timestamps (`timestamp_from_client`, `_integer_timestamps`).

Selector byte 0: one integer (16 bytes, signed); 1: a text; 2: a list of integers (9 bytes each);
3: an ISO 8601 text assembled from the bytes (any year 1-9999, offsets up to ±23:59, odd
separators); 4: a run of digits, ASCII or not (Unicode digits, superscripts), up to 6000 long.
Nothing may raise; a result is None or an aware UTC datetime within the accepted range; and the
vectorised batch conversion must give exactly what converting one by one gives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import atheris  # type: ignore[import-untyped]

from bench.fuzz import common

common.django_setup()

from django.conf import settings  # noqa: E402

from sensors.services import ingestion  # noqa: E402

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
LATEST = NOW + timedelta(seconds=int(settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS))


def _one(value: int | str) -> datetime | None:
    moment, server_time = ingestion.timestamp_from_client(value, now=NOW)
    assert server_time is False
    if moment is not None:
        assert moment.tzinfo is not None, moment
        assert moment.utcoffset() == timedelta(0), moment
        assert ingestion.EARLIEST_READING <= moment <= LATEST, (value, moment)
    return moment


DIGITS = "0123456789\u00b2\u00b9\u0663\u06f5\u0967\uff19\U0001d7d8"


def _iso_text(rest: bytes) -> str:
    provider = atheris.FuzzedDataProvider(rest)
    year = provider.ConsumeIntInRange(1, 9999)
    month, day = provider.ConsumeIntInRange(1, 12), provider.ConsumeIntInRange(1, 31)
    hour, minute = provider.ConsumeIntInRange(0, 24), provider.ConsumeIntInRange(0, 60)
    sign = "+-"[provider.ConsumeIntInRange(0, 1)]
    offset = (
        f"{sign}{provider.ConsumeIntInRange(0, 23):02d}:{provider.ConsumeIntInRange(0, 59):02d}"
    )
    zone = [offset, "Z", "", offset.replace(":", "")][provider.ConsumeIntInRange(0, 3)]
    separator = "T "[provider.ConsumeIntInRange(0, 1)]
    fraction = f".{provider.ConsumeIntInRange(0, 10**9)}" if provider.ConsumeBool() else ""
    tail = provider.ConsumeUnicodeNoSurrogates(4)
    clock = f"{hour:02d}:{minute:02d}:00{fraction}"
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{clock}{zone}{tail}"


def _digit_run(rest: bytes) -> str:
    provider = atheris.FuzzedDataProvider(rest)
    length = provider.ConsumeIntInRange(1, 6000)
    pattern = [DIGITS[b % len(DIGITS)] for b in provider.ConsumeBytes(16)] or ["1"]
    return "".join(pattern[i % len(pattern)] for i in range(length))


def check(data: bytes) -> None:
    if not data:
        return
    selector, rest = data[0] % 5, data[1:]
    if selector == 0:
        _one(int.from_bytes(rest[:16], "little", signed=True))
    elif selector == 1:
        _one(rest.decode("utf-8", errors="replace"))
    elif selector == 3:
        _one(_iso_text(rest))
    elif selector == 4:
        _one(_digit_run(rest))
    else:
        values = [
            int.from_bytes(rest[i : i + 9], "little", signed=True) for i in range(0, len(rest), 9)
        ]
        batch = ingestion._integer_timestamps(values, NOW)
        if batch is not None:
            assert batch == [_one(value) for value in values], values


if __name__ == "__main__":
    common.main(check, instrument=["sensors.services.ingestion"])
