"""Pure CSV helpers of the exports: time formatting like the reference (§6.1), numbers through
energyleaf.common.numbers (rounded to their unit, fixed point, no trailing zeros), and
neutralisation of cells a spreadsheet would read as a formula. No Django here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

from energyleaf.common.numbers import format_number

__all__ = ["format_number"]  # numbers are written by energyleaf.common.numbers (re-exported)

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
_NEEDS_QUOTES = (",", '"', "\r", "\n")


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


def _cell(text: str) -> str:
    text = neutralise(text)
    if any(special in text for special in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: Sequence[str]) -> str:
    """One CSV record (comma, `\\n` line end, cells neutralised), quoted only when a cell holds a
    comma, a quote, CR or LF (as PostgreSQL's COPY does; the csv module would leave a lone CR
    unquoted, which readers take for a line end)."""
    return ",".join(_cell(cell) for cell in cells) + "\n"


def csv_lines(rows: Iterable[Sequence[str]]) -> str:
    """Several records at once (for blocks of rows)."""
    return "".join(",".join(_cell(cell) for cell in row) + "\n" for row in rows)


def csv_blocks(rows: Iterable[Sequence[str]], size: int) -> Iterator[bytes]:
    """The records of `rows` as encoded CSV, `size` records per block (the last may be shorter):
    one write per block, and never more than one block of rows in memory."""
    block: list[Sequence[str]] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield csv_lines(block).encode()
            block = []
    if block:
        yield csv_lines(block).encode()


def coalesced(
    blocks: Iterable[bytes | bytearray | memoryview], size: int = 256 * 1024
) -> Iterator[bytes]:
    """The same bytes in blocks of at least `size` (the last may be shorter): COPY hands out one
    row at a time, and one write per row would dominate."""
    pending: list[bytes | bytearray | memoryview] = []
    length = 0
    for block in blocks:
        pending.append(block)
        length += len(block)
        if length >= size:
            yield b"".join(pending)
            pending = []
            length = 0
    if pending:
        yield b"".join(pending)
