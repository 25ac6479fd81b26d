"""Readings have one owner: outside the sensors app nothing reads the readings table except
through `sensors.selectors`, where the assignment periods are applied."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every package of the project but sensors (its own code is the owner).
OTHER_PACKAGES = ("analytics", "reports", "exports", "energyleaf", "simulation")
DIRECT_ACCESS = re.compile(r"sensors_reading\b|\bReading\.objects\b|\bReading\._meta\b")


def _sources() -> list[Path]:
    return sorted(
        path
        for package in OTHER_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
    )


def _imports_reading(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module in {"sensors.models", "sensors"}
        and any(alias.name in {"Reading", "models"} for alias in node.names)
    ]


def test_no_other_package_reads_the_readings_table_directly() -> None:
    offenders = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        offenders += [f"{where}:{line}" for line in _imports_reading(ast.parse(text))]
        offenders += [
            f"{where}:{number}"
            for number, line in enumerate(text.splitlines(), start=1)
            if DIRECT_ACCESS.search(line)
        ]
    assert offenders == []
