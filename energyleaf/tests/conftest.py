"""Fixtures of the cross-cutting tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Rate-limit counters start empty in every test: on SQLite a later test's users get the
    same ids again, and "generate my report now" is limited per user id."""
    cache.clear()
    yield
    cache.clear()
