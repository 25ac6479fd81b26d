from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import LazySettings

from sensors.models import Reading, Sensor


@pytest.fixture(autouse=True)
def _default_export_span(settings: LazySettings) -> None:
    settings.ENERGYLEAF_EXPORT_MAX_DAYS = 366


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def reading(sensor: Sensor, moment: datetime, value: str, consumption: str, **extra: Any) -> None:
    """One stored reading with exact decimals (extra fields as keyword arguments)."""
    Reading.objects.create(
        sensor=sensor,
        timestamp=moment,
        value=Decimal(value),
        consumption=Decimal(consumption),
        **extra,
    )


def body_of(response: Any) -> str:
    """The text of a streamed CSV response."""
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.fixture(autouse=True)
def _private_exports_root(settings: LazySettings, tmp_path: Any) -> None:
    """Every test writes its dataset files into its own folder."""
    settings.EXPORTS_ROOT = tmp_path / "exports"
