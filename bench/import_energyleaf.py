"""Benchmark of the import from the old platform (`manage.py import_energyleaf`) against COPY
alone of the same rows.

    flock /tmp/bench.lock .venv/bin/python bench/import_energyleaf.py \\
        [--readings 10000000] [--sensors 20] [--chunk-rows 200000] [--keep]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_legacy]

1. Two fresh databases on the same server: the target (`--database-url`, migrated) and the old
   platform beside it (its name + `_src`, the old schema of
   `energyleaf/legacy/tests/oldschema.sql`), filled by PostgreSQL itself with `--sensors`
   households, one electricity sensor each, and `--readings` readings 15 s apart in total.
2. The import in this process, as the command runs it: users and sensors, then the readings
   (COPY out of the source with the flags computed there, straight into COPY into the readings
   table, in chunks with their progress rows; `--jobs` sensors at a time, 2 as the command's
   default), then the verification.
3. The yardsticks, in the same run: the same rows as a plain `COPY (SELECT …) TO STDOUT` of the
   source, passed the same way (1 MiB writes) into `COPY … FROM STDIN`, no flags, no chunks, one
   transaction: (a) into the readings table itself, before the import (emptied after), the
   ratio's denominator; (b) into a scratch table with the readings table's indexes (unique
   (sensor, timestamp), timestamp, received_at) but no foreign key, which shows what the
   per-row foreign-key check costs.

Prints readings/s of both and their ratio, the verification time and the load average (a 2-core
machine shared with other work: read it before comparing runs), and writes
bench/results/import_energyleaf-<time>.json. Target (issue 17): at least 100 000 readings/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

SCRATCH = """
CREATE TABLE bench_copy (
    id bigserial PRIMARY KEY,
    sensor_id text NOT NULL,
    "timestamp" timestamptz NOT NULL,
    value numeric(30, 6) NOT NULL,
    consumption numeric(30, 6) NOT NULL,
    value_out numeric(30, 6),
    inserted numeric(30, 6),
    value_current numeric(30, 6),
    flags smallint NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sensor_id, "timestamp")
);
CREATE INDEX bench_copy_time ON bench_copy ("timestamp");
CREATE INDEX bench_copy_received ON bench_copy (received_at);
"""


def _pass(out: Any, into: Any) -> int:
    """COPY data from `out` into `into` in 1 MiB writes, as the import passes it; the rows."""
    rows = 0
    batch: list[bytes] = []
    size = 0
    for data in out:
        row = bytes(data)
        batch.append(row)
        size += len(row)
        if size >= 1 << 20:
            rows += len(batch)
            into.write(b"".join(batch))
            batch, size = [], 0
    if batch:
        rows += len(batch)
        into.write(b"".join(batch))
    return rows


def _copy_into_readings(
    source_url: str, target_url: str, sensors: dict[str, int]
) -> tuple[int, float]:
    """The same rows COPYed into the readings table itself (its indexes and its foreign key to
    the sensor), no flags, no chunks, one transaction; the table is emptied afterwards."""
    import psycopg
    from psycopg import sql

    rows = 0
    started = time.perf_counter()
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as target:
        src.execute("SET TIME ZONE 'UTC'")
        for old_id, sensor_id in sensors.items():
            statement = sql.SQL(
                'COPY (SELECT {}, "timestamp", value, consumption, value_out, inserted, '
                "value_current, 0, now() FROM sensor_data WHERE sensor_id = {}) TO STDOUT"
            ).format(sql.Literal(sensor_id), sql.Literal(old_id))
            with (
                src.cursor().copy(statement) as out,
                target.cursor().copy(
                    'COPY sensors_reading (sensor_id, "timestamp", value, consumption, value_out, '
                    "inserted, value_current, flags, received_at) FROM STDIN"
                ) as into,
            ):
                rows += _pass(out, into)
        target.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(target_url, autocommit=True) as target:
        target.execute("TRUNCATE sensors_reading")
    return rows, seconds


def _copy_alone(source_url: str, target_url: str, sensor_ids: list[str]) -> tuple[int, float]:
    """The same rows into a scratch table with the readings table's indexes but no foreign key."""
    import psycopg

    from energyleaf.legacy.services import source

    with psycopg.connect(target_url, autocommit=True) as target:
        target.execute("DROP TABLE IF EXISTS bench_copy")
        target.execute(SCRATCH)  # type: ignore[arg-type]
    started = time.perf_counter()
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as target:
        with src.cursor() as out_cursor, target.cursor() as in_cursor:
            statement = source.plain_copy_statement(sensor_ids=sensor_ids)
            with (
                out_cursor.copy(statement) as out,
                in_cursor.copy(
                    'COPY bench_copy (sensor_id, "timestamp", value, consumption, value_out, '
                    "inserted, value_current) FROM STDIN"
                ) as into,
            ):
                rows = _pass(out, into)
        target.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(target_url, autocommit=True) as target:
        target.execute("DROP TABLE bench_copy")
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--sensors", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep both databases.")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_legacy")
    args = parser.parse_args()

    from energyleaf.legacy.tests import oldsource

    target_url = args.database_url
    target_name = common.database_name(target_url)
    source_name = f"{target_name}_src"
    common.reset_database(target_url)
    common.django_setup(target_url)
    load_before = os.getloadavg()

    started = time.perf_counter()
    source_url = oldsource.database_create(target_url, source_name)
    oldsource.schema_create(source_url)
    oldsource.fill_bulk(source_url, readings=args.readings, sensors=args.sensors)
    common.log(
        f"old platform filled: {args.readings} readings in {time.perf_counter() - started:.1f} s"
    )

    from energyleaf.legacy.services import legacy_import, legacy_verify

    started = time.perf_counter()
    result = legacy_import(source_url=source_url, only={"users", "sensors"})
    setup_seconds = time.perf_counter() - started
    common.log(f"users and sensors in {setup_seconds:.1f} s")

    from energyleaf.legacy.models import LegacyIdMap

    mapped = dict(
        LegacyIdMap.objects.filter(kind=LegacyIdMap.Kind.SENSOR_ID).values_list("old_id", "new_id")
    )
    common.close_django_connections()
    table_rows, table_seconds = _copy_into_readings(source_url, target_url, mapped)
    common.log(f"COPY into the readings table: {table_rows} in {table_seconds:.1f} s")

    started = time.perf_counter()
    result = legacy_import(
        source_url=source_url, only={"readings"}, chunk_rows=args.chunk_rows, jobs=args.jobs
    )
    import_seconds = time.perf_counter() - started
    copied = result.parts["readings"].created
    common.log(f"readings imported: {copied} in {import_seconds:.1f} s, problems {result.problems}")

    started = time.perf_counter()
    differences = legacy_verify(source_url=source_url)
    verify_seconds = time.perf_counter() - started
    common.log(f"verification: {len(differences)} differences in {verify_seconds:.1f} s")
    common.close_django_connections()

    copy_rows, copy_seconds = _copy_alone(
        source_url, target_url, [f"bs{index}" for index in range(args.sensors)]
    )
    load_after = os.getloadavg()

    import_rate = copied / import_seconds if import_seconds else 0.0
    copy_rate = copy_rows / copy_seconds if copy_seconds else 0.0
    table_rate = table_rows / table_seconds if table_seconds else 0.0
    common.print_table(
        ["phase", "readings", "seconds", "readings/s"],
        [
            [
                "import (flags, chunks, progress)",
                copied,
                f"{import_seconds:.1f}",
                f"{import_rate:,.0f}",
            ],
            [
                "COPY alone into the readings table",
                table_rows,
                f"{table_seconds:.1f}",
                f"{table_rate:,.0f}",
            ],
            [
                "COPY alone, scratch table without FK",
                copy_rows,
                f"{copy_seconds:.1f}",
                f"{copy_rate:,.0f}",
            ],
        ],
    )
    ratio = import_rate / table_rate if table_rate else 0.0
    print(
        f"import / COPY alone into the readings table: {ratio:.2f}; import / COPY without FK: "
        f"{import_rate / copy_rate if copy_rate else 0.0:.2f}; verification {verify_seconds:.1f} s"
    )
    print(f"load average before {load_before}, after {load_after} (2 cores, shared)")
    data: dict[str, Any] = {
        "readings": args.readings,
        "sensors": args.sensors,
        "chunk_rows": args.chunk_rows,
        "imported": copied,
        "import_seconds": import_seconds,
        "import_readings_per_s": import_rate,
        "jobs": args.jobs,
        "copy_into_readings_seconds": table_seconds,
        "copy_into_readings_per_s": table_rate,
        "copy_alone_rows": copy_rows,
        "copy_alone_seconds": copy_seconds,
        "copy_alone_readings_per_s": copy_rate,
        "ratio": ratio,
        "verify_seconds": verify_seconds,
        "differences": len(differences),
        "load_before": load_before,
        "load_after": load_after,
        "commit": common.git_revision(),
    }
    path = common.write_result("import_energyleaf", data)
    common.log(f"written {path}")
    if not args.keep:
        common.close_django_connections()
        oldsource.database_drop(target_url, source_name)
        oldsource.database_drop(target_url, target_name)


if __name__ == "__main__":
    main()
