"""What a stored reading costs on PostgreSQL: bytes per reading of `sensors_reading` (heap,
TOAST, each index) after live-like arrival, and what other layouts of the same rows would cost,
measured in the same run on the same data.

    python bench/storage.py [--sensors 1000] [--hours 4] [--seed 0]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_storage]

1. Drops and creates the (dedicated) database, migrates, creates `--sensors` households with one
   electricity sensor each.
2. Loads `--hours` of 15-s readings per sensor with COPY into the migrated table with all its
   indexes in place, in arrival order (every sensor's reading of one 15 s, each head at its own
   second, then the next 15 s), as live ingestion fills it: the unique (sensor, timestamp) index
   then grows by page splits, as it does in production. The readings look like a Tasmota head's:
   a rising register, the consumption since the previous reading, the instantaneous power,
   received a moment later.
3. VACUUM ANALYZE, then sizes from `pg_relation_size` for the heap, its TOAST and every index.
4. Alternatives, each a scratch table filled from the same rows (`INSERT … SELECT` in arrival
   order, indexes created first), vacuumed and measured the same way:
   - `brin`: today's columns, but the two time indexes as BRIN instead of B-tree;
   - `brin, no id`: `brin` without the surrogate `id` column and its primary key index;
   - `narrow`: integer columns in the unit of the stored precision (registers and consumption in
     mWh, 10^-6 kWh, as bigint and integer; power in mW as integer), no `id`, no `received_at`,
     only the unique index;
   - `narrow+brin`: `narrow` plus a BRIN index on the timestamp;
   - `packed`: one row per sensor and hour holding the `narrow` columns as arrays (what a
     columnar store such as a compressed TimescaleDB chunk does, without its delta encodings;
     PostgreSQL's own TOAST compression applies).

Prints bytes per reading by part and layout and the projection for a year of 10 000 households
posting every 15 s (21.0 billion readings), and writes bench/results/storage-<time>.json. Sizes
do not depend on the machine's load, unlike every timing here.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.detection import create_sensors  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench_storage"
START = datetime(2024, 5, 6, tzinfo=UTC)
STEP_S = 15
FLEET = 10_000
READINGS_PER_YEAR = FLEET * 365 * 24 * 3600 // STEP_S
COPY_SQL = (
    "COPY sensors_reading (sensor_id, timestamp, value, consumption, value_current, flags, "
    "received_at) FROM STDIN"
)

ALTERNATIVES: dict[str, list[str]] = {
    "brin": [
        "CREATE TABLE alt_brin (LIKE sensors_reading INCLUDING DEFAULTS)",
        "CREATE UNIQUE INDEX alt_brin_uniq ON alt_brin (sensor_id, timestamp)",
        "CREATE INDEX alt_brin_time ON alt_brin USING brin (timestamp)",
        "CREATE INDEX alt_brin_received ON alt_brin USING brin (received_at)",
        "INSERT INTO alt_brin SELECT * FROM sensors_reading ORDER BY timestamp, sensor_id",
    ],
    "brin, no id": [
        "CREATE TABLE alt_brin_noid (LIKE sensors_reading INCLUDING DEFAULTS)",
        "ALTER TABLE alt_brin_noid DROP COLUMN id",
        "CREATE UNIQUE INDEX alt_brin_noid_uniq ON alt_brin_noid (sensor_id, timestamp)",
        "CREATE INDEX alt_brin_noid_time ON alt_brin_noid USING brin (timestamp)",
        "CREATE INDEX alt_brin_noid_received ON alt_brin_noid USING brin (received_at)",
        "INSERT INTO alt_brin_noid (sensor_id, timestamp, value, consumption, value_out, "
        "inserted, value_current, flags, received_at) SELECT sensor_id, timestamp, value, "
        "consumption, value_out, inserted, value_current, flags, received_at "
        "FROM sensors_reading ORDER BY timestamp, sensor_id",
    ],
    "narrow": [
        "CREATE TABLE alt_narrow (sensor_id integer NOT NULL, timestamp timestamptz NOT NULL, "
        "value_mwh bigint NOT NULL, consumption_mwh integer NOT NULL, value_out_mwh bigint, "
        "inserted_mwh integer, power_mw integer, flags smallint NOT NULL DEFAULT 0)",
        "CREATE UNIQUE INDEX alt_narrow_uniq ON alt_narrow (sensor_id, timestamp)",
        "INSERT INTO alt_narrow SELECT sensor_id, timestamp, (value * 1000000)::bigint, "
        "(consumption * 1000000)::integer, (value_out * 1000000)::bigint, "
        "(inserted * 1000000)::integer, "
        "(value_current * 1000)::integer, flags FROM sensors_reading "
        "ORDER BY timestamp, sensor_id",
    ],
    "narrow+brin": [
        "CREATE TABLE alt_narrow_brin (LIKE alt_narrow INCLUDING DEFAULTS)",
        "CREATE UNIQUE INDEX alt_narrow_brin_uniq ON alt_narrow_brin (sensor_id, timestamp)",
        "CREATE INDEX alt_narrow_brin_time ON alt_narrow_brin USING brin (timestamp)",
        "INSERT INTO alt_narrow_brin SELECT * FROM alt_narrow ORDER BY timestamp, sensor_id",
    ],
    "packed": [
        "CREATE TABLE alt_packed (sensor_id integer NOT NULL, hour timestamptz NOT NULL, "
        "second_of_hour smallint[] NOT NULL, value_mwh bigint[] NOT NULL, "
        "consumption_mwh integer[] NOT NULL, power_mw integer[], flags smallint[] NOT NULL, "
        "PRIMARY KEY (sensor_id, hour))",
        "INSERT INTO alt_packed SELECT sensor_id, date_trunc('hour', timestamp), "
        "array_agg(extract(epoch FROM timestamp - date_trunc('hour', timestamp))::smallint "
        "ORDER BY timestamp), array_agg((value * 1000000)::bigint ORDER BY timestamp), "
        "array_agg((consumption * 1000000)::integer ORDER BY timestamp), "
        "array_agg((value_current * 1000)::integer ORDER BY timestamp), "
        "array_agg(flags::smallint ORDER BY timestamp) FROM sensors_reading "
        "GROUP BY sensor_id, date_trunc('hour', timestamp) ORDER BY 2, 1",
    ],
}
TABLES = {
    "today": "sensors_reading",
    "brin": "alt_brin",
    "brin, no id": "alt_brin_noid",
    "narrow": "alt_narrow",
    "narrow+brin": "alt_narrow_brin",
    "packed": "alt_packed",
}
ROLLUPS = "analytics_consumptionrollup"
BUCKETS_PER_YEAR = 365 * 24 * 4


def load_readings(database_url: str, sensor_ids: list[int], hours: float, seed: int) -> int:
    """COPY `hours` of 15-s readings per sensor in arrival order; returns the number of rows."""
    import psycopg

    steps = int(hours * 3600) // STEP_S
    rng = np.random.default_rng(seed)
    n = len(sensor_ids)
    base = rng.uniform(120, 400, n)
    register = rng.uniform(1_000, 60_000, n).round(6)
    # Each head posts at its own second of the 15 and is received 50-900 ms later (the
    # timestamps are whole seconds, as the sensors send them; receive times are unique).
    phase = rng.integers(0, STEP_S, n)
    order = np.argsort(phase, kind="stable")
    rows = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        for step in range(steps):
            moment = START + timedelta(seconds=STEP_S * step)
            power = np.clip(base + rng.normal(0.0, 25.0, n), 0.0, None)
            busy = rng.random(n) < 0.05
            power[busy] += rng.uniform(800, 2500, int(busy.sum()))
            consumption = np.round(power * STEP_S / 3.6e6, 6) if step else np.zeros(n)
            register = np.round(register + consumption, 6)
            delay_us = rng.integers(50_000, 900_000, n)
            buffer = io.StringIO()
            for index in order.tolist():
                stamp = moment + timedelta(seconds=int(phase[index]))
                received = stamp + timedelta(microseconds=int(delay_us[index]))
                buffer.write(
                    f"{sensor_ids[index]}\t{stamp.isoformat()}\t{register[index]:.6f}\t"
                    f"{consumption[index]:.6f}\t{power[index]:.3f}\t0\t{received.isoformat()}\n"
                )
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                copy.write(buffer.getvalue())
            rows += n
            if step and step % 120 == 0:
                common.log(f"  {step}/{steps} moments, {rows} readings")
    return rows


def relation_sizes(cursor: Any, table: str) -> dict[str, int]:
    """Bytes of the table's heap, TOAST (with its index) and each of its indexes."""
    heap, toast = cursor.execute(
        "SELECT pg_relation_size(c.oid), COALESCE(pg_total_relation_size(c.reltoastrelid), 0) "
        "FROM pg_class c WHERE c.relname = %s",
        [table],
    ).fetchone()
    sizes = {"heap": int(heap), "toast": int(toast)}
    for name, size in cursor.execute(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass ORDER BY 1",
        [table],
    ).fetchall():
        sizes[f"index {name}"] = int(size)
    return sizes


def measure(database_url: str) -> dict[str, dict[str, int]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cursor:
        for name, statements in ALTERNATIVES.items():
            started = time.perf_counter()
            for statement in statements:
                cursor.execute(statement.encode())
            common.log(f"  {name} filled in {time.perf_counter() - started:.1f} s")
        cursor.execute("VACUUM ANALYZE")
        sizes = {layout: relation_sizes(cursor, table) for layout, table in TABLES.items()}
        sizes["rollups"] = relation_sizes(cursor, ROLLUPS)
        return sizes


def build_rollups() -> int:
    """The 15-minute rollups of the loaded readings, as the refresh task builds them."""
    from analytics.models import ConsumptionRollup
    from analytics.services.rollups import rollups_refresh

    rollups_refresh(now=START + timedelta(days=30))
    count = ConsumptionRollup.objects.count()
    common.close_django_connections()
    return count


def projection(bytes_per_reading: float) -> float:
    """Terabytes (10^12 bytes) for a year of the fleet."""
    return bytes_per_reading * READINGS_PER_YEAR / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=1_000)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    sensor_ids = create_sensors(args.sensors)
    common.close_django_connections()
    started = time.perf_counter()
    rows = load_readings(args.database_url, sensor_ids, args.hours, args.seed)
    common.log(f"{rows} readings loaded in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rollup_rows = build_rollups()
    common.log(f"{rollup_rows} rollups built in {time.perf_counter() - started:.1f} s")
    sizes = measure(args.database_url)

    today = sum(sizes["today"].values()) / rows
    table_rows = []
    result: dict[str, Any] = {"readings": rows, "sensors": len(sensor_ids), "layouts": {}}
    rollups = sizes.pop("rollups")
    for layout, parts in sizes.items():
        total = sum(parts.values())
        per = total / rows
        result["layouts"][layout] = {
            "bytes": parts,
            "bytes_per_reading": round(per, 1),
            "tb_per_fleet_year": round(projection(per), 2),
        }
        for part, size in parts.items():
            table_rows.append([layout, part, f"{size / rows:.1f}", ""])
        table_rows.append(
            [
                layout,
                "total",
                f"{per:.1f}",
                f"{projection(per):.2f} TB ({per / today:.2f} x today)",
            ]
        )
    print()
    print(
        f"{rows:,} readings of {len(sensor_ids)} sensors; a year of {FLEET:,} households is "
        f"{READINGS_PER_YEAR / 1e9:.1f} billion readings"
    )
    common.print_table(["layout", "part", "bytes/reading", "fleet-year"], table_rows)
    per_rollup = sum(rollups.values()) / rollup_rows
    rollup_tb = per_rollup * FLEET * BUCKETS_PER_YEAR / 1e12
    result["rollups"] = {
        "rows": rollup_rows,
        "bytes": rollups,
        "bytes_per_rollup": round(per_rollup, 1),
        "tb_per_fleet_year": round(rollup_tb, 3),
    }
    print(
        f"\n15-minute rollups: {rollup_rows} rows, {per_rollup:.1f} bytes each (table and "
        f"indexes); a fleet-year ({FLEET * BUCKETS_PER_YEAR / 1e6:.0f} million) "
        f"{rollup_tb:.3f} TB"
    )
    result["machine"] = common.machine_description()
    result["revision"] = common.git_revision()
    path = common.write_result("storage", result)
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
