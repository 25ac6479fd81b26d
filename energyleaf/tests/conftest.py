"""Fixtures of the cross-cutting tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _empty_cache(fresh_cache: None) -> None:
    """Rate-limit counters start empty in every test here (the root conftest's `fresh_cache`):
    on SQLite a later test's users get the same ids again, and "generate my report now" is
    limited per user id."""
