"""Numbers, dates and money written the way a mail language (`de` or `en`) writes them; no
locale of the machine is involved."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

WEEKDAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_number(value: Decimal | float | int, language: str, places: int = 2) -> str:
    """`1234.5` → `1.234,50` (de) or `1,234.50` (en), rounded half up to `places` decimals."""
    step = Decimal(1).scaleb(-places)
    rounded = Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    if language == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def format_kwh(value: Decimal | float, language: str) -> str:
    return f"{format_number(value, language)} kWh"


def format_eur(value: Decimal | float, language: str) -> str:
    text = format_number(value, language)
    return f"{text} €" if language == "de" else f"€{text}"


def format_date(day: date, language: str) -> str:
    """`10.06.2024` (de) or `2024-06-10` (en)."""
    return day.strftime("%d.%m.%Y") if language == "de" else day.isoformat()


def format_short_date(day: date, language: str) -> str:
    """`10.06.` (de) or `Jun 10` (en): day labels of charts (no locale involved)."""
    if language == "de":
        return day.strftime("%d.%m.")
    return f"{MONTHS_EN[day.month - 1]} {day.day}"


def weekday_name(day: date, language: str) -> str:
    return WEEKDAYS[language][day.weekday()]
