"""Report charts: deterministic PNG bytes of a fixed size, no metadata, localised, pure inputs."""

from __future__ import annotations

import io
import struct
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PIL import Image

from reports.compute.charts import (
    RED,
    ChartDay,
    chart_names,
    chart_render,
    consumption_chart_render,
    cost_chart_render,
)

START = date(2024, 3, 30)


def week(*, goal: str | None = "3.000", costs: bool = True) -> list[ChartDay]:
    values = ["3.250", "4.100", "1.333", "5.020", "2.900", "3.000", "0.000"]
    return [
        ChartDay(
            day=START + timedelta(days=index),
            consumption_kwh=Decimal(value),
            goal_kwh=Decimal(goal) if goal else None,
            exceeded=Decimal(value) > Decimal(goal) if goal else None,
            cost_eur=(Decimal(value) * Decimal("0.30") + Decimal("0.40")).quantize(Decimal("0.01"))
            if costs
            else None,
        )
        for index, value in enumerate(values)
    ]


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return chunks


@pytest.mark.parametrize("name", ["consumption", "cost"])
@pytest.mark.parametrize("language", ["de", "en"])
def test_rendering_twice_gives_the_same_bytes_of_a_fixed_size_without_metadata(
    name: str, language: str
) -> None:
    days = week()

    first = chart_render(name=name, days=days, language=language)
    second = chart_render(name=name, days=days, language=language)

    assert first == second
    assert Image.open(io.BytesIO(first)).size == (600, 300)
    # Only image chunks: no tEXt/iTXt/zTXt (software, comments) and no tIME.
    assert set(png_chunks(first)) <= {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def test_rendering_in_threads_gives_the_same_bytes() -> None:
    days = week()
    expected = consumption_chart_render(days=days, language="de")
    results: list[bytes] = []

    def render() -> None:
        results.append(consumption_chart_render(days=days, language="de"))

    threads = [threading.Thread(target=render) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results == [expected] * 4


def test_languages_and_data_change_the_picture() -> None:
    days = week()
    german = consumption_chart_render(days=days, language="de")

    assert consumption_chart_render(days=days, language="en") != german
    assert consumption_chart_render(days=week(goal=None), language="de") != german
    assert cost_chart_render(days=days, language="de") != german


def red_pixels(data: bytes) -> int:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    red = tuple(int(RED[i : i + 2], 16) for i in (1, 3, 5))
    counts = image.getcolors(maxcolors=600 * 300) or []
    return sum(count for count, colour in counts if colour == red)


def test_exceeded_days_are_red_and_without_goal_none_is() -> None:
    assert red_pixels(consumption_chart_render(days=week(), language="de")) > 1000
    assert red_pixels(consumption_chart_render(days=week(goal=None), language="de")) == 0


def test_cost_chart_exists_only_when_every_day_has_a_cost() -> None:
    assert chart_names(week()) == ["consumption", "cost"]
    assert chart_names(week(costs=False)) == ["consumption"]
    assert chart_names([]) == []
    with pytest.raises(ValueError, match="no chart 'cost'"):
        chart_render(name="cost", days=week(costs=False), language="de")


def test_a_single_day_of_zero_renders() -> None:
    day = [ChartDay(day=START, consumption_kwh=Decimal(0), cost_eur=Decimal(0))]

    for name in ("consumption", "cost"):
        assert Image.open(io.BytesIO(chart_render(name=name, days=day, language="en"))).size == (
            600,
            300,
        )


def test_the_text_cache_does_not_change_the_bytes() -> None:
    from reports.compute import charts

    days = week()
    warm = consumption_chart_render(days=days, language="de")
    charts._glyphs.cache_clear()

    assert consumption_chart_render(days=days, language="de") == warm
