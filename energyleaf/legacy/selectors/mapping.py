"""Which old row became which new one, and how far readings were copied."""

from __future__ import annotations

from datetime import datetime

from ..models import LegacyIdMap, LegacyReadingProgress


def id_map(*, kind: str) -> dict[str, int]:
    """Old id -> new id of every imported row of `kind` (`LegacyIdMap.Kind`)."""
    return dict(LegacyIdMap.objects.filter(kind=kind).values_list("old_id", "new_id"))


def reading_progress(*, sensor_id: int) -> tuple[datetime | None, int]:
    """(copied until, readings copied) of the sensor; (None, 0) before its first copy."""
    row = LegacyReadingProgress.objects.filter(sensor_id=sensor_id).first()
    return (row.copied_until, row.readings_copied) if row is not None else (None, 0)
