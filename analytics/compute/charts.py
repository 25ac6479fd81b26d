"""The back office's charts as inline SVG strings: numbers in, markup out (no Django, no
JavaScript, no plotting library).

Times come in as aware UTC datetimes with the zone to label them in (the household's, or UTC for
the fleet): the axes show local wall-clock time, the geometry is computed in UTC, so a day of 23
or 25 hours has 92 or 100 quarter hours and nothing overlaps. Every text written into an SVG is
either a formatted number or escaped (`_text`), so a category or sensor name cannot inject
markup. Shapes that tests count carry a class: `bar`, `peak`, `cell`, `suggestion`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from html import escape
from typing import Protocol

FONT = 'font-family="sans-serif" font-size="11"'
TEXT = "#1f2937"
MUTED_TEXT = "#6b7280"
AXIS = "#9ca3af"
GRID = "#e5e7eb"
BAR = "#2563eb"
BAR_PARTIAL = "#93c5fd"
PEAK = "#f59e0b"
HIGHLIGHT = "#fde68a"
LINE = "#2563eb"
SHOWN = "#059669"
HIDDEN = "#a7f3d0"
IDEAL = "#dc2626"

# Coverage colours, worst to best, with the lowest share of each class: a colour-blind reader
# still has the percentage written in every cell.
COVERAGE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.0, "#7f1d1d", "< 50 %"),
    (0.5, "#dc2626", "50-80 %"),
    (0.8, "#f59e0b", "80-95 %"),
    (0.95, "#86efac", "95-99 %"),
    (0.99, "#15803d", "≥ 99 %"),
)
NO_DATA = "#f3f4f6"


WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def day_label(day: date) -> str:
    """A short day label, the same whatever the process locale: "Mo 30.11."."""
    return f"{WEEKDAYS[day.weekday()]} {day:%d.%m.}"


def _text(value: str) -> str:
    return escape(value, quote=True)


def _svg_open(width: float, height: float, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_text(label)}" '
        f'style="max-width: 100%; height: auto" {FONT}>'
    )


def nice_ticks(top: float, *, count: int = 4) -> list[float]:
    """Round axis values from 0 to at least `top` (about `count` steps of 1, 2, 2.5 or 5 times a
    power of ten); [0, 1] for an empty or non-positive range."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    steps = math.ceil(top / step - 1e-9)
    return [round(k * step, 10) for k in range(steps + 1)]


def _number(value: float) -> str:
    """A tick value without needless decimals: 0, 0.25, 1.5, 20."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _y_axis(
    parts: list[str],
    *,
    ticks: Sequence[float],
    left: float,
    right: float,
    y_of: _Scale,
    unit: str,
) -> None:
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 4:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED_TEXT}">'
            f"{_number(tick)}</text>"
        )
    parts.append(
        f'<text x="{left - 4:.1f}" y="{y_of(ticks[-1]) - 10:.1f}" text-anchor="end" '
        f'fill="{MUTED_TEXT}">{_text(unit)}</text>'
    )


class _Scale:
    """A linear map from [low, high] to [start, end] pixels (end may be smaller: SVG's y grows
    downwards)."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        self.low, self.span = low, (high - low) or 1.0
        self.start, self.length = start, end - start

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / self.span * self.length


def _no_data(parts: list[str], *, width: float, height: float, message: str) -> None:
    parts.append(
        f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
        f'fill="{MUTED_TEXT}" font-size="13" class="no-data">{_text(message)}</text>'
    )


def _legend(parts: list[str], *, x: float, y: float, items: Sequence[tuple[str, str]]) -> None:
    """Colour squares with their meaning, left to right from (x, y)."""
    for colour, label in items:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" fill="{TEXT}">{_text(label)}</text>')
        x += 24 + 6.5 * len(label)


# --- a household's days -------------------------------------------------------------------------


@dataclass(frozen=True)
class DayBar:
    """One local day: its label (e.g. "Mo 30.11"), consumption in kWh (None: no readings) and
    whether the day is not over yet."""

    label: str
    kwh: float | None
    partial: bool = False


def daily_bars_svg(*, days: Sequence[DayBar], width: int = 760, height: int = 240) -> str:
    """Bars of consumption per local day with a kWh axis; a lighter bar for the running day."""
    left, right, top, bottom = 52, width - 12, 28, height - 44
    parts = [_svg_open(width, height, "consumption per day")]
    values = [day.kwh for day in days if day.kwh is not None]
    if not days or not any(value > 0 for value in values):
        _no_data(parts, width=width, height=height, message="No consumption in these days.")
        parts.append("</svg>")
        return "".join(parts)
    ticks = nice_ticks(max(values))
    y_of = _Scale(0.0, ticks[-1], bottom, top)
    _y_axis(parts, ticks=ticks, left=left, right=right, y_of=y_of, unit="kWh")
    slot = (right - left) / len(days)
    bar_width = max(slot * 0.7, 1.0)
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar_width) / 2
        centre = left + (index + 0.5) * slot
        if day.kwh is not None and day.kwh > 0:
            y = y_of(day.kwh)
            colour = BAR_PARTIAL if day.partial else BAR
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" '
                f'height="{bottom - y:.1f}" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{centre:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{TEXT}">{day.kwh:.1f}</text>'
            )
        parts.append(
            f'<text x="{centre:.1f}" y="{bottom + 14:.1f}" text-anchor="middle" '
            f'fill="{MUTED_TEXT}" font-size="10">{_text(day.label)}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>')
    _legend(
        parts,
        x=left,
        y=height - 8,
        items=[(BAR, "consumption per local day"), (BAR_PARTIAL, "today so far")],
    )
    parts.append("</svg>")
    return "".join(parts)


# --- a household's last 24 hours ----------------------------------------------------------------


@dataclass(frozen=True)
class QuarterHour:
    """One 15-minute bucket starting at `start` (aware UTC) with its consumption in kWh (None:
    no readings)."""

    start: datetime
    kwh: float | None


def _time_ticks(
    start: datetime, end: datetime, zone: tzinfo, *, every_minutes: int
) -> list[tuple[datetime, str]]:
    """Instants in [start, end] where the local clock shows a multiple of `every_minutes`
    (counted from local midnight), with their label: "HH:MM", or the date at local midnight.
    Stepped in UTC, so a repeated hour is labelled twice and a skipped one never."""
    step = timedelta(minutes=math.gcd(every_minutes, 15))
    seconds = step.total_seconds()
    first = datetime.fromtimestamp(math.ceil(start.timestamp() / seconds) * seconds, start.tzinfo)
    ticks = []
    moment = first
    while moment <= end:
        local = moment.astimezone(zone)
        minutes = local.hour * 60 + local.minute
        if minutes % every_minutes == 0:
            label = local.strftime("%d.%m.") if minutes == 0 else local.strftime("%H:%M")
            ticks.append((moment, label))
        moment += step
    return ticks


def quarter_hours_svg(
    *,
    buckets: Sequence[QuarterHour],
    peaks: Sequence[tuple[datetime, datetime]],
    window_start: datetime,
    window_end: datetime,
    zone: tzinfo,
    width: int = 760,
    height: int = 240,
) -> str:
    """Bars of consumption per 15 minutes over [window_start, window_end) on a local-time axis,
    with the detected peaks as shaded spans and a marker above each."""
    left, right, top, bottom = 52, width - 12, 34, height - 44
    parts = [_svg_open(width, height, "consumption per 15 minutes")]
    values = [bucket.kwh for bucket in buckets if bucket.kwh is not None]
    if not any(value > 0 for value in values) and not peaks:
        _no_data(parts, width=width, height=height, message="No readings in the last 24 hours.")
        parts.append("</svg>")
        return "".join(parts)
    ticks = nice_ticks(max(values, default=0.0))
    y_of = _Scale(0.0, ticks[-1], bottom, top)
    x_of = _Scale(0.0, (window_end - window_start).total_seconds(), left, right)

    def x_at(moment: datetime) -> float:
        seconds = (moment - window_start).total_seconds()
        return x_of(min(max(seconds, 0.0), (window_end - window_start).total_seconds()))

    for start, end in peaks:
        x1, x2 = x_at(start), x_at(end)
        parts.append(
            f'<rect x="{x1:.1f}" y="{top:.1f}" width="{max(x2 - x1, 2.0):.1f}" '
            f'height="{bottom - top:.1f}" fill="{HIGHLIGHT}" opacity="0.8"/>'
        )
    _y_axis(parts, ticks=ticks, left=left, right=right, y_of=y_of, unit="kWh")
    quarter = timedelta(minutes=15)
    for bucket in buckets:
        if bucket.kwh is None or bucket.kwh <= 0:
            continue
        x1, x2 = x_at(bucket.start), x_at(bucket.start + quarter)
        y = y_of(bucket.kwh)
        parts.append(
            f'<rect class="bar" x="{x1 + 0.5:.1f}" y="{y:.1f}" width="{max(x2 - x1 - 1, 0.5):.1f}" '
            f'height="{bottom - y:.1f}" fill="{BAR}"/>'
        )
    for start, end in peaks:
        middle = (x_at(start) + x_at(end)) / 2
        parts.append(
            f'<path class="peak" d="M{middle - 5:.1f},{top - 10:.1f} h10 l-5,8 z" fill="{PEAK}"/>'
        )
    for moment, label in _time_ticks(window_start, window_end, zone, every_minutes=180):
        x = x_at(moment)
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" '
            f'stroke="{AXIS}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" '
            f'fill="{MUTED_TEXT}" font-size="10">{_text(label)}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>')
    _legend(
        parts,
        x=left,
        y=height - 8,
        items=[(BAR, "kWh per 15 minutes"), (PEAK, f"detected peak ({len(peaks)})")],
    )
    parts.append("</svg>")
    return "".join(parts)


# --- a sequence's power and its suggestions -----------------------------------------------------


class PowerSample(Protocol):
    """The power (W) reached at `timestamp` (aware UTC)."""

    @property
    def timestamp(self) -> datetime: ...

    @property
    def power_w(self) -> float: ...


def power_chart_svg(
    *,
    points: Sequence[PowerSample],
    window_start: datetime,
    window_end: datetime,
    highlight_start: datetime,
    highlight_end: datetime,
    zone: tzinfo,
    width: int = 760,
    height: int = 240,
) -> str:
    """A line of power (W) over [window_start, window_end] with the highlighted span shaded and
    a local-time axis every 10 minutes."""
    left, right, top, bottom = 56, width - 12, 20, height - 44
    parts = [_svg_open(width, height, "power around the sequence")]
    peak = max((point.power_w for point in points), default=0.0)
    low = min(min((point.power_w for point in points), default=0.0), 0.0)
    ticks = nice_ticks(peak)
    y_of = _Scale(low, ticks[-1], bottom, top)
    span = (window_end - window_start).total_seconds() or 1.0
    x_of = _Scale(0.0, span, left, right)

    def x_at(moment: datetime) -> float:
        return x_of(min(max((moment - window_start).total_seconds(), 0.0), span))

    x1, x2 = x_at(highlight_start), x_at(highlight_end)
    parts.append(
        f'<rect x="{x1:.1f}" y="{top}" width="{max(x2 - x1, 1.0):.1f}" '
        f'height="{bottom - top}" fill="{HIGHLIGHT}"/>'
    )
    _y_axis(parts, ticks=ticks, left=left, right=right, y_of=y_of, unit="W")
    polyline = " ".join(f"{x_at(p.timestamp):.1f},{y_of(p.power_w):.1f}" for p in points)
    parts.append(f'<polyline points="{polyline}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    if not points:
        _no_data(parts, width=width, height=height, message="No readings around this sequence.")
    for moment, label in _time_ticks(window_start, window_end, zone, every_minutes=10):
        x = x_at(moment)
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="{AXIS}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED_TEXT}" '
            f'font-size="10">{_text(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{y_of(0.0):.1f}" x2="{right}" y2="{y_of(0.0):.1f}" '
        f'stroke="{AXIS}"/>'
    )
    _legend(
        parts,
        x=left,
        y=height - 8,
        items=[(LINE, "power (W)"), (HIGHLIGHT, "the sequence")],
    )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class SuggestionBar:
    """A suggested device category with its probability and whether the household confirmed a
    device of that category for the peak."""

    category: str
    probability: float
    confirmed: bool = False


def suggestions_svg(
    *, suggestions: Sequence[SuggestionBar], threshold: float, model_version: str | None
) -> str:
    """Horizontal bars of the suggestions' probabilities, most likely first: dark when shown to
    the household (probability at least `threshold`), light otherwise; a dashed rule at the
    threshold; "confirmed" beside the categories the household confirmed."""
    width, row = 760, 22
    left, right, top = 130, 560, 30
    height = top + row * max(len(suggestions), 1) + 34
    parts = [_svg_open(width, height, "device suggestions")]
    if not suggestions:
        _no_data(parts, width=width, height=height, message="No device suggestions for this peak.")
        parts.append("</svg>")
        return "".join(parts)
    x_of = _Scale(0.0, 1.0, left, right)
    title = "probability per category" + (f", model {model_version}" if model_version else "")
    parts.append(f'<text x="{left}" y="14" fill="{TEXT}">{_text(title)}</text>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x_of(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row * len(suggestions)}" '
            f'stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + row * len(suggestions) + 14}" text-anchor="middle" '
            f'fill="{MUTED_TEXT}" font-size="10">{tick:.2f}</text>'
        )
    ordered = sorted(suggestions, key=lambda s: (-s.probability, s.category))
    for index, suggestion in enumerate(ordered):
        y = top + index * row
        shown = suggestion.probability >= threshold
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="{TEXT}">'
            f"{_text(suggestion.category)}</text>"
        )
        parts.append(
            f'<rect class="suggestion" x="{left}" y="{y + 3}" '
            f'width="{max(x_of(suggestion.probability) - left, 1.0):.1f}" height="{row - 6}" '
            f'fill="{SHOWN if shown else HIDDEN}"/>'
        )
        note = f"{suggestion.probability:.2f}" + (" confirmed ✓" if suggestion.confirmed else "")
        parts.append(
            f'<text x="{x_of(suggestion.probability) + 5:.1f}" y="{y + 14}" fill="{TEXT}">'
            f"{_text(note)}</text>"
        )
    x = x_of(threshold)
    parts.append(
        f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{top + row * len(suggestions)}" '
        f'stroke="{TEXT}" stroke-dasharray="4 3"/>'
    )
    _legend(
        parts,
        x=left,
        y=height - 6,
        items=[
            (SHOWN, f"shown to the household (≥ {threshold:.2f})"),
            (HIDDEN, "not shown"),
        ],
    )
    parts.append("</svg>")
    return "".join(parts)


# --- the fleet's coverage -------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageRow:
    """A sensor's label and its share of expected readings per day (None: nothing expected,
    a day that has not begun)."""

    label: str
    shares: Sequence[float | None]


def coverage_colour(share: float) -> str:
    colour = COVERAGE_CLASSES[0][1]
    for low, candidate, _ in COVERAGE_CLASSES:
        if share >= low:
            colour = candidate
    return colour


def coverage_heatmap_svg(*, rows: Sequence[CoverageRow], days: Sequence[str]) -> str:
    """Sensors (rows) by days (columns), each cell coloured by the share of expected readings
    received and labelled with it in per cent."""
    label_width, cell_w, cell_h, top = 150, 82, 20, 24
    width = max(label_width + cell_w * len(days) + 12, 560)
    height = top + cell_h * max(len(rows), 1) + 40
    parts = [_svg_open(width, height, "share of expected readings per sensor and day")]
    if not rows:
        _no_data(parts, width=width, height=height, message="No sensors.")
        parts.append("</svg>")
        return "".join(parts)
    for column, day in enumerate(days):
        x = label_width + column * cell_w + cell_w / 2
        parts.append(
            f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" fill="{MUTED_TEXT}">'
            f"{_text(day)}</text>"
        )
    for index, row in enumerate(rows):
        y = top + index * cell_h
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" fill="{TEXT}" '
            f'font-family="monospace">{_text(row.label)}</text>'
        )
        for column, share in enumerate(row.shares):
            x = label_width + column * cell_w
            colour = NO_DATA if share is None else coverage_colour(share)
            parts.append(
                f'<rect class="cell" x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" fill="{colour}"/>'
            )
            if share is not None:
                ink = "#ffffff" if share < 0.8 or share >= 0.99 else TEXT
                parts.append(
                    f'<text x="{x + cell_w / 2:.1f}" y="{y + 14}" text-anchor="middle" '
                    f'fill="{ink}" font-size="10">{share * 100:.0f} %</text>'
                )
    _legend(
        parts,
        x=label_width,
        y=height - 10,
        items=[(colour, label) for _, colour, label in COVERAGE_CLASSES],
    )
    parts.append("</svg>")
    return "".join(parts)


# --- the classifier's reliability -----------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBand:
    """Suggestions with a probability in [low, high) and how many of them the households
    confirmed."""

    low: float
    high: float
    suggestions: int
    confirmed: int


def reliability_svg(*, bands: Sequence[ReliabilityBand], threshold: float) -> str:
    """Per probability band, the share of suggestions confirmed right as a bar spanning the band,
    against the dashed diagonal of a perfectly calibrated classifier (share = probability); the
    number of suggestions above each bar; a rule at the threshold for showing suggestions."""
    width, height = 560, 340
    left, right, top, bottom = 56, width - 16, 28, height - 60
    parts = [_svg_open(width, height, "share of suggestions confirmed per probability band")]
    if not any(band.suggestions for band in bands):
        _no_data(
            parts,
            width=width,
            height=height,
            message="No suggestions on peaks with confirmed devices yet.",
        )
        parts.append("</svg>")
        return "".join(parts)
    x_of = _Scale(0.0, 1.0, left, right)
    y_of = _Scale(0.0, 1.0, bottom, top)
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y, x = y_of(tick), x_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED_TEXT}">'
            f"{tick * 100:.0f} %</text>"
        )
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="{MUTED_TEXT}" '
            f'font-size="10">{tick:.1f}</text>'
        )
    for band in bands:
        if not band.suggestions:
            continue
        share = band.confirmed / band.suggestions
        x1, x2 = x_of(band.low), x_of(min(band.high, 1.0))
        y = y_of(share)
        parts.append(
            f'<rect class="bar" x="{x1 + 1:.1f}" y="{y:.1f}" width="{max(x2 - x1 - 2, 1.0):.1f}" '
            f'height="{bottom - y:.1f}" fill="{BAR}" opacity="0.85"/>'
        )
        parts.append(
            f'<text x="{(x1 + x2) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="10" fill="{TEXT}">n={band.suggestions}</text>'
        )
    parts.append(
        f'<line x1="{x_of(0):.1f}" y1="{y_of(0):.1f}" x2="{x_of(1):.1f}" y2="{y_of(1):.1f}" '
        f'stroke="{IDEAL}" stroke-dasharray="5 4"/>'
    )
    x = x_of(threshold)
    parts.append(
        f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{TEXT}" '
        f'stroke-dasharray="2 3"/>'
    )
    parts.append(
        f'<text x="{x + 4:.1f}" y="{top + 10}" fill="{TEXT}" font-size="10">shown ≥ '
        f"{threshold:.2f}</text>"
    )
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>')
    parts.append(
        f'<text x="{(left + right) / 2:.1f}" y="{bottom + 30}" text-anchor="middle" '
        f'fill="{TEXT}">suggested probability</text>'
    )
    _legend(
        parts,
        x=left,
        y=height - 8,
        items=[(BAR, "share confirmed right"), (IDEAL, "perfectly calibrated")],
    )
    parts.append("</svg>")
    return "".join(parts)
