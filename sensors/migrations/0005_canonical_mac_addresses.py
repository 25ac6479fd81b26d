"""Every sensor MAC in the canonical spelling `AA:BB:CC:DD:EE:FF`.

Before, `aa-bb-cc-dd-ee-02` and `AA:BB:CC:DD:EE:02` could be two sensors of one device. This
rewrites each MAC to its canonical spelling and stops, changing nothing, when two sensors would
end up with the same MAC: which one is the device's real sensor (and what happens to the other's
readings) is a decision for an admin, never a silent merge.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import sensors.models
from sensors.compute.mac import canonical_mac_or_none


class MacCollisionError(RuntimeError):
    """Two or more sensors are one MAC address in different spellings."""


def canonicalise_client_ids(apps: Any, schema_editor: Any) -> None:
    """Rewrite every sensor's `client_id` to the canonical spelling; raise MacCollisionError
    naming the colliding sensor ids (and nothing is changed) when spellings collide. Values that
    are no MAC address at all are left as they are."""
    sensor_model = apps.get_model("sensors", "Sensor")
    by_mac: dict[str, list[tuple[int, str]]] = {}
    for pk, client_id in sensor_model.objects.order_by("pk").values_list("pk", "client_id"):
        mac = canonical_mac_or_none(client_id)
        if mac is not None:
            by_mac.setdefault(mac, []).append((pk, client_id))
    collisions = {mac: rows for mac, rows in by_mac.items() if len(rows) > 1}
    if collisions:
        lines = [
            f"{mac}: sensor ids " + ", ".join(f"{pk} ({client_id!r})" for pk, client_id in rows)
            for mac, rows in sorted(collisions.items())
        ]
        raise MacCollisionError(
            "Sensors share one MAC address in different spellings. Decide which sensor is the "
            "device's (reassign or delete the others in the admin or the shell), then migrate "
            "again. Nothing was changed.\n" + "\n".join(lines)
        )
    for mac, rows in by_mac.items():
        pk, client_id = rows[0]
        if client_id != mac:
            sensor_model.objects.filter(pk=pk).update(client_id=mac)


class Migration(migrations.Migration):
    dependencies = [
        ("sensors", "0004_drop_redundant_reading_sensor_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalsensor",
            name="client_id",
            field=models.CharField(
                max_length=17,
                validators=[sensors.models.validate_mac],
                verbose_name="MAC address",
            ),
        ),
        migrations.AlterField(
            model_name="sensor",
            name="client_id",
            field=models.CharField(
                max_length=17,
                validators=[sensors.models.validate_mac],
                verbose_name="MAC address",
            ),
        ),
        migrations.RunPython(canonicalise_client_ids, migrations.RunPython.noop),
    ]
