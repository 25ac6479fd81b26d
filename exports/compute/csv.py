"""Pure CSV helpers of the exports: time formatting like the old platform's CSV export, numbers
through energyleaf.common.numbers (rounded to their unit, fixed point, no trailing zeros), and
neutralisation of cells a spreadsheet would read as a formula (docs/design.md, difference 11).
No Django here."""

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

# Characters that make a spreadsheet evaluate a cell when they come first, possibly after
# whitespace (spaces, tabs, line breaks, no-break and zero-width spaces), which spreadsheets skip.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
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
    """Prefix `'` to a cell a spreadsheet would take as a formula: one whose first character
    after any leading whitespace (of any kind, invisible spaces included) is `=`, `+`, `-` or
    `@`, or which starts with a tab, CR or LF, unless the whole cell is a plain number such as
    `-150`."""
    first = cell[:1]
    if not first:
        return cell
    if first.isspace() or first in _INVISIBLE:
        first = _first_visible(cell)
        risky = first in _FORMULA_STARTS or cell[0] in _FORMULA_STARTS
    else:
        risky = first in _FORMULA_STARTS
    if risky and not _is_number(cell):
        return "'" + cell
    return cell


def _first_visible(cell: str) -> str:
    for char in cell:
        if not (char.isspace() or char in _INVISIBLE):
            return char
    return ""


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
