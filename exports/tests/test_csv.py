"""Pure formatting: numbers and times like the reference, formula neutralisation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exports.compute.csv import csv_line, format_number, format_timestamp, neutralise


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12345.678000"), "12345.678"),
        (Decimal("0.000000"), "0"),
        (Decimal("0.150000"), "0.15"),
        (Decimal("1000.000000"), "1000"),
        (Decimal("-2.500000"), "-2.5"),
        (0.1, "0.1"),
        (7, "7"),
        (None, ""),
    ],
)
def test_numbers_are_written_like_the_reference(value: Decimal | None, expected: str) -> None:
    assert format_number(value) == expected


def test_timestamps_are_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2024, 6, 1, 12, 15, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_timestamp(moment) == "2024-06-01T10:15:00.123Z"
    assert format_timestamp(moment, ZoneInfo("Europe/Berlin")) == "2024-06-01T12:15:00.123+02:00"
    assert format_timestamp(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2024, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+49 170 123", "'+49 170 123"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-2.5", "-2.5"),
        ("+3", "+3"),
        ("Anna", "Anna"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised_numbers_are_not(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_csv_line_quotes_only_when_needed() -> None:
    assert csv_line(["a", "b,c", 'd"e', "=x"]) == 'a,"b,c","d""e",\'=x\n'


@pytest.mark.parametrize(
    "cell",
    [
        " =1+2",
        '   =HYPERLINK("http://x")',
        "\t=1+2",
        "\n@x",
        "\r\n+1",
        "\u00a0=1+2",
        "\u2003-cmd",
        "\u200b=1",
        "\ufeff@SUM(A1)",
        " \u00a0\t@x",
        "\n",
    ],
)
def test_formulas_after_leading_whitespace_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-150", "-0.5", "+12", "12", " Anna", "a =1", "   "])
def test_numbers_and_plain_text_with_spaces_stay_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell
