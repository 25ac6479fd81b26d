"""The staff daily digest from plain facts (no Django): the rule that makes a sensor's refusals
unusual, the wording of each line (English: staff mail), and the sections with their counts,
capped lines and their JSON form (stored on the digest, so a retry mails the same text).

Times are aware UTC datetimes and are written in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

# Lines shown per section; the count always covers every item.
LINES_PER_SECTION = 30
# The order (and keys) of the sections.
SECTION_KEYS = ("silent", "meter_events", "failed_jobs", "failed_mails", "refusals")


@dataclass(frozen=True)
class DigestLine:
    """One item of a section: its text and the admin page that shows it ("" when none)."""

    text: str
    url: str = ""


@dataclass(frozen=True)
class DigestSection:
    """One section: `count` items in all, the first `lines` of them, `more_url`, a page
    listing them all ("" when none), and `note`, the rule that puts an item here ("" when
    obvious)."""

    key: str
    title: str
    count: int
    lines: tuple[DigestLine, ...]
    more_url: str = ""
    note: str = ""

    @property
    def more(self) -> int:
        """Items counted but not listed."""
        return self.count - len(self.lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "count": self.count,
            "lines": [{"text": line.text, "url": line.url} for line in self.lines],
            "more_url": self.more_url,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DigestSection:
        return cls(
            key=str(data["key"]),
            title=str(data["title"]),
            count=int(data["count"]),
            lines=tuple(
                DigestLine(text=str(line["text"]), url=str(line.get("url", "")))
                for line in data.get("lines", [])
            ),
            more_url=str(data.get("more_url", "")),
            note=str(data.get("note", "")),
        )


def section_build(
    *,
    key: str,
    title: str,
    lines: Sequence[DigestLine],
    more_url: str = "",
    note: str = "",
    limit: int = LINES_PER_SECTION,
) -> DigestSection:
    """A section of all `lines`, keeping the first `limit` of them."""
    return DigestSection(
        key=key,
        title=title,
        count=len(lines),
        lines=tuple(lines[:limit]),
        more_url=more_url,
        note=note,
    )


def digest_has_news(sections: Iterable[DigestSection]) -> bool:
    """Whether any section has something to say (otherwise nothing is mailed)."""
    return any(section.count for section in sections)


# --- the rule for refusals ---------------------------------------------------------------------


def refusals_unusual(*, refused: int, stored: int, minimum: int, percent: float) -> bool:
    """A sensor's refusals in the window are unusual when there are at least `minimum` of them
    and they are at least `percent` % of all the readings it sent in the window (refused plus
    stored). The count keeps a handful of refusals quiet; the share keeps a busy sensor with a
    few more than usual quiet."""
    sent = refused + stored
    return refused >= max(minimum, 1) and refused * 100 >= percent * sent


# --- wording --------------------------------------------------------------------------------------


def format_utc(moment: datetime) -> str:
    """`2026-12-04 22:10 UTC` (the moment must be aware)."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def format_duration(delta: timedelta) -> str:
    """A duration in its two largest units: `45 min`, `7 h 5 min`, `3 d 4 h`."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def format_percent(part: int, whole: int) -> str:
    """`part` of `whole` in percent with one decimal (`12.5 %`); `100 %` of nothing."""
    if whole <= 0:
        return "100 %"
    return f"{part * 100 / whole:.1f} %"


def silent_line(
    *,
    client_id: str,
    sensor_id: int,
    sensor_type: str,
    last_reading_at: datetime | None,
    assigned_at: datetime | None,
    now: datetime,
) -> str:
    """`AA:BB:… (sensor 12, electricity): last reading 2026-12-04 22:10 UTC, 8 h 20 min ago`."""
    head = f"{client_id} (sensor {sensor_id}, {sensor_type})"
    if last_reading_at is not None and (assigned_at is None or last_reading_at >= assigned_at):
        ago = format_duration(now - last_reading_at)
        return f"{head}: last reading {format_utc(last_reading_at)}, {ago} ago"
    if assigned_at is not None:
        ago = format_duration(now - assigned_at)
        return f"{head}: no reading since it was assigned {format_utc(assigned_at)}, {ago} ago"
    return f"{head}: no reading yet"


def meter_event_line(
    *,
    client_id: str,
    sensor_id: int,
    kind: str,
    occurred_at: datetime,
    previous_value: Decimal | None,
    new_value: Decimal,
) -> str:
    """`AA:BB:… (sensor 12): replacement at 2026-12-04 10:00 UTC, register 12345.0 → 0.5`."""
    before = "?" if previous_value is None else f"{previous_value.normalize():f}"
    after = f"{new_value.normalize():f}"
    return (
        f"{client_id} (sensor {sensor_id}): {kind} at {format_utc(occurred_at)}, "
        f"register {before} → {after}"
    )


def job_failure_line(*, title: str, timestamp: datetime, details: Mapping[str, Any]) -> str:
    """`2026-12-04 03:17 UTC exports/export-failed: job 7, OSError: disk full`."""
    what = ", ".join(
        f"{name} {details[name]}" for name in ("job", "task", "sensor") if name in details
    )
    error = str(details.get("error", "")).strip()
    text = f"{format_utc(timestamp)} {title}"
    if what:
        text += f": {what}"
    if error:
        text += f"{',' if what else ':'} {_first_line(error)}"
    return text


def mail_failure_line(
    *,
    kind: str,
    row_id: int,
    attempts: int,
    gave_up: bool,
    error: str,
    timestamp: datetime,
) -> str:
    """`report_mail 17: 3 attempts, gave up, last 2026-12-04 07:02 UTC: SMTPException: …`."""
    state = "gave up" if gave_up else "will be tried again"
    text = (
        f"{kind} {row_id}: {attempts} attempt{'s' if attempts != 1 else ''}, {state}, "
        f"last {format_utc(timestamp)}"
    )
    return f"{text}: {_first_line(error)}" if error else text


def refusal_line(
    *, client_id: str, sensor_id: int, refused: int, stored: int, main_reason: str
) -> str:
    """`AA:BB:… (sensor 12): 340 refused, 5,100 stored (6.3 %), mostly value_decreased`."""
    share = format_percent(refused, refused + stored)
    return (
        f"{client_id} (sensor {sensor_id}): {refused:,} refused, {stored:,} stored "
        f"({share} refused), mostly {main_reason}"
    )


def digest_subject(*, day: date, sections: Sequence[DigestSection]) -> str:
    """`Energyleaf staff digest 2026-12-05: silent sensors 3, failed mails 1` (the sections
    with something to say)."""
    parts = [f"{section.title.lower()} {section.count}" for section in sections if section.count]
    return f"Energyleaf staff digest {day.isoformat()}: " + (", ".join(parts) or "nothing new")


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
