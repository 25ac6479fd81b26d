"""Readings have one owner: outside the sensors app nothing reads the readings table except
through `sensors.selectors`, where the assignment periods are applied."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OTHER_APPS = ("analytics", "reports", "exports")
DIRECT_ACCESS = re.compile(
    r"sensors_reading\b|\bReading\.objects\b|\bReading\._meta\b"
    r"|from sensors\.models import[^\n]*\bReading\b"
)


def test_no_other_app_reads_the_readings_table_directly() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in OTHER_APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "tests" not in path.parts and "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DIRECT_ACCESS.search(line)
    ]
    assert offenders == []
