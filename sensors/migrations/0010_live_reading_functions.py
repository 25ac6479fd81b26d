"""The database functions of the live-reading fast path (sensors.services.live), PostgreSQL only.

`sensors_reading_context` resolves a token hash to its sensor, with what planning a reading
needs, and the stored readings just before and at-or-after the reading's time: one unlocked read.
`sensors_reading_insert_live` stores one planned reading in a single round trip: it takes the
sensor's ingestion lock (the advisory lock `sensors.services.tokens.sensor_token_authenticate`
takes), then, in a statement that starts after the lock is held and therefore sees every reading
committed before it, checks that the token, the sensor and the reading's stored neighbours are
still those the reading was planned against, and only then inserts. It returns whether it
inserted; on false the caller takes the locked path. The function plans nothing: the
plausibility rules stay in sensors.compute.planning. SQLite has no such function and keeps the
locked path.

Both are PL/pgSQL for their cached plans (`plan_cache_mode = force_generic_plan`: the queries are
index lookups whose plan does not depend on the values, and planning them on every reading
would cost more than running them).
"""

from django.conf import settings
from django.db import migrations

CONTEXT_FUNCTION = "sensors_reading_context"
CONTEXT_SIGNATURE = "text, timestamptz"
FUNCTION = "sensors_reading_insert_live"
SIGNATURE = (
    "integer, bigint, bigint, bigint, text, integer, timestamptz, bigint, numeric, numeric, "
    "numeric, bigint, numeric, timestamptz, numeric, numeric, numeric, numeric, numeric, integer"
)

CREATE_CONTEXT = """
CREATE OR REPLACE FUNCTION {function}(p_token_hash text, p_timestamp timestamptz)
RETURNS TABLE (
    o_token_id bigint, o_expires_at timestamptz, o_issued_for_user_id bigint,
    o_used_at timestamptz, o_sensor_id bigint, o_user_id bigint, o_sensor_type text,
    o_rotations integer, o_household_active boolean,
    o_before_id bigint, o_before_timestamp timestamptz, o_before_value numeric,
    o_before_consumption numeric, o_before_value_out numeric, o_before_inserted numeric,
    o_before_value_current numeric, o_before_flags integer,
    o_after_id bigint, o_after_timestamp timestamptz, o_after_value numeric,
    o_after_consumption numeric, o_after_value_out numeric, o_after_inserted numeric,
    o_after_value_current numeric, o_after_flags integer
)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $body$
BEGIN
    RETURN QUERY
    SELECT t.id::bigint, t.expires_at, t.issued_for_user_id::bigint, t.used_at, s.id::bigint,
           s.user_id::bigint, s.sensor_type::text, s.analog_rotations_per_kwh::integer,
           u.is_active,
           b.id::bigint, b.timestamp, b.value::numeric, b.consumption::numeric,
           b.value_out::numeric, b.inserted::numeric, b.value_current::numeric,
           b.flags::integer,
           a.id::bigint, a.timestamp, a.value::numeric, a.consumption::numeric,
           a.value_out::numeric, a.inserted::numeric, a.value_current::numeric,
           a.flags::integer
      FROM {token} t
      JOIN {sensor} s ON s.id = t.sensor_id
      LEFT JOIN {user} u ON u.id = s.user_id
      LEFT JOIN LATERAL (
          SELECT r.id, r.timestamp, r.value, r.consumption, r.value_out, r.inserted,
                 r.value_current, r.flags FROM {reading} r
           WHERE r.sensor_id = s.id AND r.timestamp < p_timestamp
           ORDER BY r.timestamp DESC LIMIT 1) b ON true
      LEFT JOIN LATERAL (
          SELECT r.id, r.timestamp, r.value, r.consumption, r.value_out, r.inserted,
                 r.value_current, r.flags FROM {reading} r
           WHERE r.sensor_id = s.id AND r.timestamp >= p_timestamp
           ORDER BY r.timestamp ASC LIMIT 1) a ON true
     WHERE t.token_hash = p_token_hash;
END
$body$;
"""

CREATE = """
CREATE OR REPLACE FUNCTION {function}(
    p_lock_namespace integer,
    p_token_id bigint,
    p_sensor_id bigint,
    p_user_id bigint,
    p_sensor_type text,
    p_rotations integer,
    p_now timestamptz,
    p_before_id bigint,
    p_before_value numeric,
    p_before_value_out numeric,
    p_before_value_current numeric,
    p_after_id bigint,
    p_after_value numeric,
    p_timestamp timestamptz,
    p_value numeric,
    p_consumption numeric,
    p_value_out numeric,
    p_inserted numeric,
    p_value_current numeric,
    p_flags integer
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $body$
DECLARE
    unchanged boolean;
BEGIN
    PERFORM pg_advisory_xact_lock((p_lock_namespace::bigint << 32) + p_sensor_id);
    -- A new statement, so a new snapshot under READ COMMITTED: it sees what the previous holder
    -- of the lock committed.
    SELECT b.id IS NOT DISTINCT FROM p_before_id
           AND b.value IS NOT DISTINCT FROM p_before_value
           AND b.value_out IS NOT DISTINCT FROM p_before_value_out
           AND b.value_current IS NOT DISTINCT FROM p_before_value_current
           AND a.id IS NOT DISTINCT FROM p_after_id
           AND a.value IS NOT DISTINCT FROM p_after_value
      INTO unchanged
      FROM {token} t
      JOIN {sensor} s ON s.id = t.sensor_id
      JOIN {user} u ON u.id = s.user_id
      LEFT JOIN LATERAL (
          SELECT r.id, r.value, r.value_out, r.value_current FROM {reading} r
           WHERE r.sensor_id = s.id AND r.timestamp < p_timestamp
           ORDER BY r.timestamp DESC LIMIT 1) b ON true
      LEFT JOIN LATERAL (
          SELECT r.id, r.value FROM {reading} r
           WHERE r.sensor_id = s.id AND r.timestamp >= p_timestamp
           ORDER BY r.timestamp ASC LIMIT 1) a ON true
     WHERE t.id = p_token_id
       AND t.sensor_id = p_sensor_id
       AND t.expires_at > p_now
       AND t.used_at IS NOT NULL
       AND t.issued_for_user_id = p_user_id
       AND s.user_id = p_user_id
       AND u.is_active
       AND s.sensor_type = p_sensor_type
       AND s.analog_rotations_per_kwh IS NOT DISTINCT FROM p_rotations;
    IF unchanged IS NOT TRUE THEN
        RETURN false;
    END IF;
    INSERT INTO {reading} (sensor_id, timestamp, value, consumption, value_out, inserted,
                           value_current, flags, received_at)
    VALUES (p_sensor_id, p_timestamp, p_value, p_consumption, p_value_out, p_inserted,
            p_value_current, p_flags, p_now);
    RETURN true;
END
$body$;
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    tables = {
        "token": apps.get_model("sensors", "SensorToken")._meta.db_table,
        "sensor": apps.get_model("sensors", "Sensor")._meta.db_table,
        "user": apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table,
        "reading": apps.get_model("sensors", "Reading")._meta.db_table,
    }
    schema_editor.execute(CREATE_CONTEXT.format(function=CONTEXT_FUNCTION, **tables))
    schema_editor.execute(CREATE.format(function=FUNCTION, **tables))


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}({SIGNATURE})")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {CONTEXT_FUNCTION}({CONTEXT_SIGNATURE})")


class Migration(migrations.Migration):
    dependencies = [
        ("sensors", "0009_sensor_assignment_open_has_household"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_function, drop_function)]
