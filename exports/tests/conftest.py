"""Fixtures of the exports tests: a larger export span, a private exports folder."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import LazySettings


@pytest.fixture(autouse=True)
def _default_export_span(settings: LazySettings) -> None:
    settings.ENERGYLEAF_EXPORT_MAX_DAYS = 366


@pytest.fixture(autouse=True)
def _private_exports_root(settings: LazySettings, tmp_path: Any) -> None:
    """Every test writes its dataset files into its own folder."""
    settings.EXPORTS_ROOT = tmp_path / "exports"
