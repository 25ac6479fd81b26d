"""The code and the README cite only documents of the repository, and only sections that exist:
every `docs/<name>.md` named in a source, config or Markdown file exists, every quoted section
(`docs/protocol.md, "Tasmota driver"`) is a heading of that document, and every cited difference
(`docs/design.md, difference 9`) is numbered there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"docs/([a-z_-]+\.md)(?:[,:]? ?(?:\"([^\"\n]+)\"|difference (\d+)))?")
# Briefs that informed the project but are not part of it must not be cited.
OUTSIDE = re.compile(r"DESIGN\.md|reference-spec|STYLE\.md|USER-ASKS|\bML\.md|\.\./shared")


SKIPPED_DIRECTORIES = frozenset({".git", ".venv", "var", "node_modules", "__pycache__", "results"})
SUFFIXES = frozenset({".py", ".md", ".toml", ".ini", ".sh"})


def _tracked_texts() -> list[Path]:
    """The project's own text files (not the virtualenv, data or benchmark results)."""
    found = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIPPED_DIRECTORIES for part in parts) or not path.is_file():
            continue
        if path.suffix in SUFFIXES or parts in ((".ci", "run"), ("Dockerfile",)):
            found.append(path)
    return sorted(found)


def _cited_part_exists(document: Path, section: str | None, difference: str | None) -> bool:
    if not document.is_file():
        return False
    if section and not any(section in heading for heading in _headings(document)):
        return False
    return not difference or difference in _differences(document)


def _headings(document: Path) -> list[str]:
    return [
        line.lstrip("#").strip()
        for line in document.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    ]


def _differences(document: Path) -> set[str]:
    return set(re.findall(r"^(\d+)\. ", document.read_text(encoding="utf-8"), flags=re.M))


def test_every_cited_document_section_and_difference_exists() -> None:
    missing = []
    for path in _tracked_texts():
        if path.name == "test_docs.py":
            continue
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            name, section, difference = match.groups()
            document = ROOT / "docs" / name
            if not _cited_part_exists(document, section, difference):
                missing.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert missing == []


def test_no_file_cites_the_briefs_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _tracked_texts()
        if path.name != "test_docs.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []
