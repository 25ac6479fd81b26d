"""The verification of an import: the old platform and this project compared, one readable line
per difference (an empty list: everything matches).

Per old `sensor_id` (one household's period of a sensor): the number of readings, the first and
the last timestamp and the sum of consumption in the source against the imported sensor's
readings in the same span, and that the span belongs to the right household. Per old user: that
it was imported, and its devices and reports.
"""

from __future__ import annotations

from datetime import datetime

from django.db import NotSupportedError, connection

from analytics.selectors.devices import household_devices
from reports.selectors.reports import report_list
from sensors.selectors.assignments import household_key_at
from sensors.selectors.readings import readings_span_stats

from ..models import LegacyIdMap
from ..selectors.mapping import id_map
from . import source

Kind = LegacyIdMap.Kind


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else "-"


def legacy_verify(*, source_url: str, readings_since: datetime | None = None) -> list[str]:
    """Compare the source with what was imported; the differences (empty: none). Raises
    NotSupportedError on a database other than PostgreSQL, as the import does."""
    if connection.vendor != "postgresql":
        raise NotSupportedError(
            "The verification needs PostgreSQL as this project's database, as the import does."
        )
    differences: list[str] = []
    users = id_map(kind=Kind.USER)
    sensor_ids = id_map(kind=Kind.SENSOR_ID)
    with source.source_connect(source_url) as conn:
        old_users = source.users(conn)
        stats = source.reading_stats(conn, readings_since)
        owners: dict[str, str | None] = {
            row["sensor_id"]: row["user_id"] for row in source.sensor_history(conn)
        }
        owners.update({row["sensor_id"]: row["user_id"] for row in source.sensors(conn)})
        per_user = source.counts_per_user(conn)

    for row in old_users:
        if row["id"] not in users:
            differences.append(f"user {row['id']} ({row['email']}): not imported")
            continue
        devices, reports = per_user.get(row["id"], (0, 0))
        new_devices = household_devices(user_id=users[row["id"]]).count()
        new_reports = report_list(user_id=users[row["id"]]).count()
        if (devices, reports) != (new_devices, new_reports):
            differences.append(
                f"user {row['id']}: devices {devices} / reports {reports} in the source, "
                f"{new_devices} / {new_reports} imported"
            )

    by_sensor: dict[int, list[source.IdStats]] = {}
    for old_id, old in sorted(stats.items()):
        if not old.count:
            continue
        if old_id not in sensor_ids:
            differences.append(f"old sensor id {old_id}: {old.count} readings, sensor not imported")
            continue
        by_sensor.setdefault(sensor_ids[old_id], []).append(old)
    for sensor_id, olds in by_sensor.items():
        spans = [(old.since_first, old.since_last) for old in olds]
        target = readings_span_stats(sensor_id=sensor_id, spans=spans)  # type: ignore[arg-type]
        for old, (count, first, last, total) in zip(olds, target, strict=True):
            expected = (old.count, old.since_first, old.since_last, old.consumption)
            if (count, first, last, total) != expected:
                differences.append(
                    f"old sensor id {old.sensor_id} (sensor {sensor_id}): source {old.count} "
                    f"readings {_stamp(old.since_first)} .. {_stamp(old.since_last)} sum "
                    f"{old.consumption}; imported {count} readings {_stamp(first)} .. "
                    f"{_stamp(last)} sum {total}"
                )
            owner = owners.get(old.sensor_id)
            if owner is not None and owner in users and old.since_first is not None:
                key = household_key_at(sensor_id=sensor_id, moment=old.since_first)
                if key != users[owner]:
                    differences.append(
                        f"old sensor id {old.sensor_id} (sensor {sensor_id}): readings belong to "
                        f"household {key}, expected {users[owner]} (user {owner})"
                    )
    return differences
