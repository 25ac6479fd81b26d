"""The report charts as PNG: daily consumption against the daily goal, and the cost per day.

Pure inputs (the report's day statistics and a language), bytes out. Deterministic: the same
inputs give the same bytes on the same library versions, because every drawing parameter is
fixed here (size, dpi, the DejaVu Sans font shipped with matplotlib, colours, the rc parameters
that affect rasterising) and the PNG holds no metadata (no time, no software name).

Shapes (bars, rules, the dashed goal or average line, legend marks) are drawn by matplotlib's
Agg renderer directly on the figure, without axes: axes and tick machinery cost more than the
whole chart. Texts are rasterised by matplotlib's FreeType wrapper (`FT2Font`) once per distinct
string and font, kept in a bounded cache, and blended into the Agg pixels with integer
arithmetic: text layout and glyph rendering were three quarters of a chart's time, and labels
recur across households (dates, weekdays, titles, amounts). Rendering is serialised by a lock,
because matplotlib's font objects are not thread-safe (web threads render on demand).
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import get_font
from matplotlib.ft2font import LoadFlags
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from numpy.typing import NDArray
from PIL import Image

from reports.compute.formatting import format_number, format_short_date

CONSUMPTION = "consumption"
COST = "cost"
CHART_NAMES = (CONSUMPTION, COST)
WIDTH_PX = 600
HEIGHT_PX = 300
DPI = 100
PNG_COLOURS = 64  # palette PNG: a few kB per chart instead of ~16 kB of RGB

GREEN = "#439869"
RED = "#ef4444"
BLUE = "#2563eb"
INK = "#1f2937"
MUTED = "#6b7280"
RULE = "#d1d5db"

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
# (font file, size in points) of the three text styles.
_REGULAR = ("DejaVuSans.ttf", 9.0)
_SMALL = ("DejaVuSans.ttf", 8.0)
_BOLD = ("DejaVuSans-Bold.ttf", 11.0)
TEXT_CACHE_SIZE = 4096
# The rc parameters that change pixels of the shapes drawn here, pinned to matplotlib's defaults.
_RC: Any = {
    "lines.antialiased": True,
    "patch.antialiased": True,
    "lines.dash_capstyle": "butt",
    "lines.dashed_pattern": [3.7, 1.6],
    "lines.scale_dashes": True,
    "path.simplify": True,
    "path.sketch": None,
    "agg.path.chunksize": 0,
}
_LOCK = threading.Lock()

_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "consumption_title": "Täglicher Verbrauch in kWh",
        "goal": "Tagesziel {value} kWh",
        "exceeded": "über dem Ziel",
        "cost_title": "Energiekosten pro Tag in €",
        "average": "Durchschnitt {value} €",
    },
    "en": {
        "consumption_title": "Daily consumption in kWh",
        "goal": "Daily goal {value} kWh",
        "exceeded": "over the goal",
        "cost_title": "Energy cost per day in €",
        "average": "Average €{value}",
    },
}
_WEEKDAYS: dict[str, tuple[str, ...]] = {
    "de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


@dataclass(frozen=True)
class ChartDay:
    """One local day of a report as the charts see it (kWh and €; None where not known)."""

    day: date
    consumption_kwh: Decimal
    goal_kwh: Decimal | None = None
    exceeded: bool | None = None
    cost_eur: Decimal | None = None


def chart_names(days: Sequence[ChartDay]) -> list[str]:
    """The charts a report with these days has: consumption when it has days, cost when every
    day has a cost."""
    if not days:
        return []
    names = [CONSUMPTION]
    if all(day.cost_eur is not None for day in days):
        names.append(COST)
    return names


def chart_render(*, name: str, days: Sequence[ChartDay], language: str) -> bytes:
    """The PNG of chart `name`; ValueError for a chart these days do not have."""
    if name not in chart_names(days):
        raise ValueError(f"no chart {name!r} for these days")
    if name == CONSUMPTION:
        return consumption_chart_render(days=days, language=language)
    return cost_chart_render(days=days, language=language)


def consumption_chart_render(*, days: Sequence[ChartDay], language: str) -> bytes:
    """Bars of the daily consumption (kWh); with a goal, a dashed goal line and the days over
    the goal in red, both named in a legend."""
    text = _TEXT[_language(language)]
    goal = next((day.goal_kwh for day in days if day.goal_kwh is not None), None)
    legend: list[tuple[str, str, str]] = []
    if goal is not None:
        legend.append(("line", INK, text["goal"].format(value=format_number(goal, language))))
        if any(day.exceeded for day in days):
            legend.append(("box", RED, text["exceeded"]))
    return _bar_chart(
        title=text["consumption_title"],
        values=[day.consumption_kwh for day in days],
        colours=[RED if day.exceeded else GREEN for day in days],
        labels=[_day_label(day.day, language) for day in days],
        language=language,
        line=goal,
        legend=legend,
    )


def cost_chart_render(*, days: Sequence[ChartDay], language: str) -> bytes:
    """Bars of the cost per day (€) with a dashed line at the average."""
    text = _TEXT[_language(language)]
    costs = [day.cost_eur if day.cost_eur is not None else Decimal(0) for day in days]
    average = sum(costs, Decimal(0)) / len(costs) if costs else Decimal(0)
    return _bar_chart(
        title=text["cost_title"],
        values=costs,
        colours=[BLUE] * len(costs),
        labels=[_day_label(day.day, language) for day in days],
        language=language,
        line=average,
        legend=[("line", INK, text["average"].format(value=format_number(average, language)))],
    )


def _language(language: str) -> str:
    return language if language in _TEXT else "de"


def _day_label(day: date, language: str) -> str:
    weekday = _WEEKDAYS[_language(language)][day.weekday()]
    return f"{weekday}\n{format_short_date(day, language)}"


@dataclass(frozen=True)
class _Glyphs:
    """A rasterised string: coverage 0-255 per pixel (row 0 at the top) and the baseline row."""

    coverage: NDArray[np.uint8]
    baseline: int

    @property
    def width(self) -> int:
        return int(self.coverage.shape[1])


@functools.lru_cache(maxsize=TEXT_CACHE_SIZE)
def _glyphs(text: str, style: tuple[str, float]) -> _Glyphs:
    """`text` rasterised in `style` by FreeType, without hinting (callers hold `_LOCK`)."""
    font = get_font(_FONT_DIR / style[0])
    font.set_size(style[1], DPI)
    font.set_text(text, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    coverage = np.array(font.get_image(), dtype=np.uint8)
    coverage.setflags(write=False)
    descent = round(font.get_descent() / 64)
    return _Glyphs(coverage=coverage, baseline=coverage.shape[0] - descent)


@dataclass(frozen=True)
class _Label:
    """A text to blend in: `x` is its left, centre or right edge (`align`), `baseline` its
    baseline row, both in pixels from the top left; `boxed` clears a white box behind it."""

    glyphs: _Glyphs
    x: float
    baseline: float
    colour: str
    align: str = "left"
    boxed: bool = False


def _rgb(colour: str) -> NDArray[np.int32]:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int32)


def _blend(pixels: NDArray[np.uint8], label: _Label) -> None:
    """Blend one label into `pixels` (height x width x 4, RGBA) in place; integer arithmetic."""
    glyphs = label.glyphs
    height, width = glyphs.coverage.shape
    shift = {"left": 0.0, "center": width / 2, "right": float(width)}[label.align]
    left = round(label.x - shift)
    top = round(label.baseline) - glyphs.baseline
    rows = slice(max(top, 0), min(top + height, pixels.shape[0]))
    cols = slice(max(left, 0), min(left + width, pixels.shape[1]))
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return
    if label.boxed:
        pad = 2
        pixels[
            max(top - pad, 0) : min(top + height + pad, pixels.shape[0]),
            max(left - pad, 0) : min(left + width + pad, pixels.shape[1]),
            :3,
        ] = 255
    coverage = glyphs.coverage[
        rows.start - top : rows.stop - top, cols.start - left : cols.stop - left
    ].astype(np.int32)[..., None]
    region = pixels[rows, cols, :3].astype(np.int32)
    blended = (region * (255 - coverage) + _rgb(label.colour) * coverage + 127) // 255
    pixels[rows, cols, :3] = blended.astype(np.uint8)


def _bar_chart(
    *,
    title: str,
    values: Sequence[Decimal],
    colours: Sequence[str],
    labels: Sequence[str],
    language: str,
    line: Decimal | None,
    legend: Sequence[tuple[str, str, str]],
) -> bytes:
    """Bars over the plot area (pixels from the top left): x 24-576, bars stand on y 232 and
    reach at most y 72; the title and legend on baseline 30, day labels under the bars."""
    left, right, floor, ceiling = 24.0, 576.0, 232.0, 72.0
    numbers = [float(value) for value in values]
    highest = max([*numbers, float(line or 0), 0.0])
    scale = (floor - ceiling) / (highest * 1.05 if highest > 0 else 1.0)
    slot = (right - left) / max(len(numbers), 1)
    with _LOCK, matplotlib.rc_context(_RC):
        figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white")
        canvas = FigureCanvasAgg(figure)
        texts = [_Label(_glyphs(title, _BOLD), left, 30, INK)]
        for index, (number, colour, label) in enumerate(zip(numbers, colours, labels, strict=True)):
            centre = left + slot * (index + 0.5)
            height = max(number, 0.0) * scale
            _add_rectangle(
                figure, centre - slot * 0.34, floor - height, slot * 0.68, height, colour
            )
            value = _glyphs(format_number(number, language), _REGULAR)
            texts.append(_Label(value, centre, floor - height - 5, INK, "center", boxed=True))
            for row, part in enumerate(label.split("\n")):
                texts.append(
                    _Label(_glyphs(part, _SMALL), centre, floor + 16 + 13 * row, MUTED, "center")
                )
        _add_line(figure, left, right, floor, RULE, dashed=False)
        if line is not None:
            _add_line(figure, left, right, floor - float(line) * scale, INK, dashed=True)
        texts.extend(_legend(figure, legend, right=right, baseline=30))
        canvas.draw()  # type: ignore[no-untyped-call]
        pixels = np.array(canvas.buffer_rgba(), dtype=np.uint8)  # type: ignore[no-untyped-call]
        for text in texts:
            _blend(pixels, text)
    image = Image.fromarray(pixels[..., :3], mode="RGB")
    palette = image.quantize(colors=PNG_COLOURS, method=Image.Quantize.FASTOCTREE)
    output = io.BytesIO()
    palette.save(output, format="PNG", optimize=False, compress_level=6)
    return output.getvalue()


def _figure_box(x: float, top: float, width: float, height: float) -> tuple[float, float]:
    """Pixels from the top left → figure fractions of the lower left corner."""
    return x / WIDTH_PX, 1 - (top + height) / HEIGHT_PX


def _add_rectangle(
    figure: Figure, x: float, top: float, width: float, height: float, colour: str
) -> None:
    corner = _figure_box(x, top, width, height)
    figure.add_artist(
        Rectangle(corner, width / WIDTH_PX, height / HEIGHT_PX, color=colour, linewidth=0)
    )


def _add_line(
    figure: Figure, start: float, end: float, y: float, colour: str, *, dashed: bool
) -> None:
    level = 1 - y / HEIGHT_PX
    figure.add_artist(
        Line2D(
            [start / WIDTH_PX, end / WIDTH_PX],
            [level, level],
            color=colour,
            linewidth=1.2 if dashed else 1.0,
            linestyle="--" if dashed else "-",
        )
    )


def _legend(
    figure: Figure, entries: Sequence[tuple[str, str, str]], *, right: float, baseline: float
) -> list[_Label]:
    """Legend entries right-aligned on the title's baseline, last entry rightmost: a dashed line
    or a box as the mark, then the label."""
    texts: list[_Label] = []
    x = right
    for kind, colour, label in reversed(entries):
        glyphs = _glyphs(label, _SMALL)
        texts.append(_Label(glyphs, x, baseline, INK, "right"))
        mark_end = x - glyphs.width - 6
        if kind == "line":
            _add_line(figure, mark_end - 18, mark_end, baseline - 4, colour, dashed=True)
            x = mark_end - 18 - 14
        else:
            _add_rectangle(figure, mark_end - 10, baseline - 10, 10, 10, colour)
            x = mark_end - 10 - 14
    return texts
