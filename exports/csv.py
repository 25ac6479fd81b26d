"""Pure CSV helpers of the exports: number and time formatting like the reference (§6.1) and
neutralisation of cells a spreadsheet would read as a formula. No Django here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

ENERGY_HEADER: tuple[str, ...] = (
    "Zählerstand (Verbraucht)",
    "Verbrauch in kWh",
    "Zählerstand (Eingespeißt)",
    "Erzeugt in kWh",
    "Leistung in Watt",
    "Zeitstempel",
    # Documented extras after the reference columns:
    "Qualitätsflags",
    "Qualität",
)
AGGREGATE_HEADER: tuple[str, ...] = (
    "Beginn",
    "Ende",
    "Verbrauch in kWh",
    "Erzeugt in kWh",
    "Mittlere Leistung in Watt",
    "Maximale Leistung in Watt",
    "Messwerte",
)
EXPERIMENT_HEADER: tuple[str, ...] = (
    "firstname",
    "lastname",
    "email",
    "token",
    # Documented extras for the survey tool:
    "status",
    "experiment_number",
    "uses_prolific",
    "gets_paid",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def format_number(value: Decimal | float | int | None) -> str:
    """A number as the reference wrote it: dot decimal, no thousands separator, no trailing zeros
    (`12345.678`, `0`, `0.15`); None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        value = Decimal(repr(value))
    number = Decimal(value).normalize()
    text = format(number, "f")
    return "0" if text in ("-0", "0") else text


def format_timestamp(moment: datetime, zone: tzinfo | None = None) -> str:
    """ISO 8601 with milliseconds: `2024-06-01T10:15:00.123Z` in UTC, or with the local offset
    (`2024-06-01T12:15:00.123+02:00`) when `zone` is given."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given")
    if zone is None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + _millis(moment) + "Z"
    local = moment.astimezone(zone)
    return local.isoformat(timespec="milliseconds")


def _millis(moment: datetime) -> str:
    return f"{moment.microsecond // 1000:03d}"


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("nan", "inf", "infinity")


def neutralise(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would take as a formula (starting with `=`, `+`, `-`,
    `@`, tab or carriage return) unless it is a plain number."""
    if cell.startswith(_FORMULA_STARTS) and not _is_number(cell):
        return "'" + cell
    return cell


def csv_line(cells: Sequence[str]) -> str:
    """One CSV record (comma, quoting only when needed, `\\n` line end), cells neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([neutralise(cell) for cell in cells])
    return buffer.getvalue()


def csv_lines(rows: Iterable[Sequence[str]]) -> str:
    """Several records at once (one writer, for blocks of rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return buffer.getvalue()
