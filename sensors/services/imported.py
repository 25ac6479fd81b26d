"""Writes for sensors and readings brought in from another system (the import from the old
platform, `energyleaf/legacy`): a sensor with its whole assignment history, and readings copied
in bulk.

A sensor imported here gets its periods as given (they come from the old platform's sensor ids),
not the ones `assignment_sync` would open from now; tokens are never imported (sensors ask for
new ones). Readings arrive as COPY text in the column order of `IMPORT_COLUMNS`, already flagged
by the caller, and go into the readings table unchanged: no plausibility rule rewrites them.
PostgreSQL only (COPY); on another database `readings_copy_in` raises `NotSupportedError`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import NotSupportedError, connection, transaction

from ..compute.copy_binary import READING_COLUMNS
from ..compute.mac import InvalidMacError, canonical_mac
from ..models import Reading, Sensor, SensorAssignment
from .sensors import _client_id_taken

# The columns of the COPY text `readings_copy_in` takes, in order.
IMPORT_COLUMNS = READING_COLUMNS


@dataclass(frozen=True, slots=True)
class ImportedPeriod:
    """One household's period of an imported sensor: [valid_from, valid_to), open when
    `valid_to` is None (only the last, and only for the sensor's current household)."""

    user_id: int
    valid_from: datetime
    valid_to: datetime | None


def _check_periods(periods: Sequence[ImportedPeriod], user_id: int | None) -> None:
    for earlier, later in itertools.pairwise(periods):
        if earlier.valid_to is None or earlier.valid_to > later.valid_from:
            raise ValidationError("Imported periods must be in order and must not overlap.")
    for period in periods:
        if period.valid_to is not None and period.valid_to <= period.valid_from:
            raise ValidationError("An imported period must end after it begins.")
    open_period = periods[-1] if periods and periods[-1].valid_to is None else None
    if (open_period.user_id if open_period else None) != user_id:
        raise ValidationError("The open period must be that of the sensor's household.")


@transaction.atomic
def sensor_import(
    *,
    client_id: str,
    sensor_type: str,
    version: int,
    user_id: int | None,
    needs_script: bool,
    script: str = "",
    analog_rotations_per_kwh: int | None = None,
    periods: Sequence[ImportedPeriod] = (),
) -> Sensor:
    """Create a sensor with the MAC in its canonical spelling and its assignment periods as
    given (in order, not overlapping; the last one open exactly when the sensor has a household,
    and then that household's). Raises ValidationError for an invalid or taken MAC, invalid
    settings or inconsistent periods; nothing is written then."""
    try:
        client_id = canonical_mac(client_id)
    except InvalidMacError as exc:
        raise ValidationError({"client_id": f"Not a MAC address: {client_id!r}"}) from exc
    if _client_id_taken(client_id):
        raise ValidationError({"client_id": f"A sensor with MAC {client_id} exists already."})
    _check_periods(periods, user_id)
    sensor = Sensor(
        client_id=client_id,
        sensor_type=sensor_type,
        version=version,
        user_id=user_id,
        needs_script=needs_script,
        script=script,
        analog_rotations_per_kwh=analog_rotations_per_kwh,
    )
    sensor.full_clean()
    sensor.save()
    SensorAssignment.objects.bulk_create(
        SensorAssignment(
            sensor=sensor,
            user_id=period.user_id,
            household_key=period.user_id,
            valid_from=period.valid_from,
            valid_to=period.valid_to,
        )
        for period in periods
    )
    return sensor


def readings_copy_in(*, chunks: Iterable[bytes | str]) -> None:
    """COPY readings into the table: `chunks` is COPY text (tab-separated, `\\N` for NULL) in
    the column order of `IMPORT_COLUMNS`. Runs in the caller's transaction; a reading at a time
    a reading of the sensor already has raises IntegrityError and nothing of the COPY stays.
    PostgreSQL only."""
    if connection.vendor != "postgresql":
        raise NotSupportedError("Copying readings in needs PostgreSQL (COPY).")
    columns = ", ".join(IMPORT_COLUMNS)
    with connection.cursor() as cursor:
        raw_cursor = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw_cursor.copy(f"COPY {Reading._meta.db_table} ({columns}) FROM STDIN") as copy:
            for chunk in chunks:
                copy.write(chunk)
