"""The live fast path also takes a token's first use (sensors.services.live).

Before, a reading whose token had never been used went through the locked path, which records
the first use (`SensorToken.used_at`). A token lives an hour, so that is one reading an hour per
sensor; but when a whole fleet starts with fresh tokens (after a deployment, or the fleet
benchmark), every sensor's first reading took the locked path at once, three times the work of
a plain one. `sensors_reading_insert_live` now accepts an unused token and, in the same
statement as the insert, records its first use exactly as `sensor_token_authenticate` does
(`used_at` set once, to the request's time). Same signature; only the body changes. SQLite has
no such function.
"""

import importlib

from django.conf import settings
from django.db import migrations

previous = importlib.import_module("sensors.migrations.0010_live_reading_functions")

CREATE = previous.CREATE.replace(
    """       AND t.expires_at > p_now
       AND t.used_at IS NOT NULL
""",
    """       AND t.expires_at > p_now
""",
).replace(
    """            p_value_current, p_flags, p_now);
    RETURN true;""",
    """            p_value_current, p_flags, p_now);
    -- The token's first use, as sensors.services.tokens.sensor_token_authenticate records it.
    UPDATE {token} SET used_at = p_now WHERE id = p_token_id AND used_at IS NULL;
    RETURN true;""",
)
assert CREATE != previous.CREATE and "UPDATE {token} SET used_at" in CREATE  # noqa: S101


def _tables(apps):
    return {
        "token": apps.get_model("sensors", "SensorToken")._meta.db_table,
        "sensor": apps.get_model("sensors", "Sensor")._meta.db_table,
        "user": apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table,
        "reading": apps.get_model("sensors", "Reading")._meta.db_table,
    }


def accept_first_use(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE.format(function=previous.FUNCTION, **_tables(apps)))


def locked_first_use(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(previous.CREATE.format(function=previous.FUNCTION, **_tables(apps)))


class Migration(migrations.Migration):
    dependencies = [
        ("sensors", "0010_live_reading_functions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(accept_first_use, locked_first_use)]
