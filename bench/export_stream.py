"""Benchmark of the streamed CSV export (`GET /api/v1/csv_energy`) against COPY alone.

    flock /tmp/bench.lock .venv/bin/python bench/export_stream.py \\
        [--sizes 1000000,5000000,10000000] [--workers 1] [--keep]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_exports]

1. A fresh database (`bench_exports`, dropped at the end unless --keep), migrated; one admin and
   one household with an electricity sensor, created through the services.
2. max(--sizes) readings of that sensor, 15 s apart, written by PostgreSQL itself
   (`INSERT … SELECT generate_series(…)`); the two secondary indexes of the readings table are
   dropped first (the export reads through the unique (sensor, timestamp) index only).
3. gunicorn with the repository's gunicorn.conf.py on a loopback port (production settings,
   one worker by default). Per size n: one request for the first n readings (admin JWT,
   `user=`), the client on loopback reading the whole body in 1 MiB reads; the rows are
   counted. Meanwhile psutil samples the RSS of the gunicorn worker(s) every 20 ms.
4. The ceiling, in the same run: the export's rows as `COPY (SELECT …) TO STDOUT`
   (`sensors.selectors.readings.energy_copy_statement`, the same bytes) read through psycopg in this
   process, no Django, no HTTP. psycopg hands out COPY data one row per message, so a second
   reference is the view's own query alone: its server-side cursor read through psycopg in
   this process (`energy_select_statement`, CURSOR_ROWS per fetch), no Django, no HTTP.

With --dataset, the research dataset job (gzip CSV, manifest) then runs in this process on the
largest size, with this process's peak RSS.

Prints rows/s of all three and the ratios, peak worker RSS per size, CPU seconds of the worker and
PostgreSQL, and writes bench/results/export_stream-<time>.json.
Target (docs/design.md, "Performance targets"): >= 400 000 rows/s streamed, memory flat from 1 to
10 million rows.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_exports"
TARGET_ROWS_PER_S = 400_000
BASE = datetime(2020, 1, 1, tzinfo=UTC)
STEP_S = 15
READ_BYTES = 1 << 20


def setup_data(rows: int) -> tuple[int, int, str]:
    """(household user id, sensor id, admin access token) with `rows` readings stored."""
    from django.db import connection
    from rest_framework_simplejwt.tokens import AccessToken

    from energyleaf.users.models import User
    from energyleaf.users.services import user_create
    from sensors.models import Reading

    ((sensor_id, _mac),) = common.register_households(group=1, count=1)
    admin = user_create(email="admin@bench.invalid")
    User.objects.filter(pk=admin.pk).update(is_staff=True)
    admin.refresh_from_db()
    # Reading another household's readings takes the researcher role (sensors.view_reading).
    from django.contrib.auth.models import Group

    admin.groups.add(Group.objects.get(name="researcher"))
    token = str(AccessToken.for_user(admin))
    table = Reading._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS reading_time_idx")
        cursor.execute("DROP INDEX IF EXISTS reading_received_idx")
        cursor.execute(
            f"""INSERT INTO {table} (sensor_id, "timestamp", value, consumption, value_out,
                    inserted, value_current, flags, received_at)
                SELECT %s, %s + g * interval '{STEP_S} seconds', 1000 + g * 0.002, 0.002,
                    CASE WHEN g %% 2 = 0 THEN 10 + g * 0.0001 END,
                    CASE WHEN g %% 2 = 0 THEN 0.0002 END,
                    480 + g %% 40, CASE WHEN g %% 1000 = 0 THEN 16 ELSE 0 END, now()
                FROM generate_series(0, %s) AS g""",  # noqa: S608 - our own table name
            [sensor_id, BASE, rows - 1],
        )
        cursor.execute(f"ANALYZE {table}")
    common.log(f"{rows:,} readings inserted in {time.perf_counter() - started:.1f} s")
    from sensors.models import Sensor

    user_id = Sensor.objects.get(pk=sensor_id).user_id
    assert user_id is not None
    return user_id, sensor_id, token


class RssSampler:
    """Peak RSS of the given processes (and each one's own peak), sampled every 20 ms."""

    def __init__(self, pids: list[int]) -> None:
        import psutil  # type: ignore[import-untyped]

        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak: dict[int, int] = dict.fromkeys(pids, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for process in self.processes:
                with contextlib.suppress(psutil.Error):  # a worker restarting is no error here
                    rss = process.memory_info().rss
                    self.peak[process.pid] = max(self.peak[process.pid], rss)
            self.samples += 1
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def current_rss(pids: list[int]) -> dict[int, int]:
    import psutil  # type: ignore[import-untyped]

    return {pid: psutil.Process(pid).memory_info().rss for pid in pids}


def http_export(port: int, token: str, user_id: int, rows: int) -> dict[str, Any]:
    end = BASE + timedelta(seconds=STEP_S * rows)
    query = urlencode(
        {
            "start": BASE.isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
            "user": user_id,
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", f"/api/v1/csv_energy?{query}", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    first_byte = time.perf_counter() - started
    size = 0
    lines = 0
    while True:
        block = response.read(READ_BYTES)
        if not block:
            break
        size += len(block)
        lines += block.count(b"\n")
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")
    if lines - 1 != rows:
        raise RuntimeError(f"expected {rows} rows, got {lines - 1}")
    return {
        "seconds": round(elapsed, 3),
        "first_byte_s": round(first_byte, 4),
        "bytes": size,
        "rows": lines - 1,
        "rows_per_s": round(rows / elapsed),
        "transfer_encoding": response.getheader("Transfer-Encoding"),
    }


def copy_ceiling(database_url: str, sensor_id: int, rows: int) -> dict[str, Any]:
    """COPY alone: the export's rows as `COPY (SELECT …) TO STDOUT` through psycopg."""
    import psycopg

    from sensors.selectors.readings import energy_copy_statement

    end = BASE + timedelta(seconds=STEP_S * rows)
    statement, params = energy_copy_statement(
        sensor_id=sensor_id, start=BASE, end=end, zone_name=None
    )
    size = 0
    lines = 0
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(statement, params) as copy:
            for block in copy:
                size += len(block)
                lines += bytes(block).count(b"\n")
        elapsed = time.perf_counter() - started
    if lines != rows:
        raise RuntimeError(f"COPY: expected {rows} rows, got {lines}")
    return {"seconds": round(elapsed, 3), "bytes": size, "rows_per_s": round(rows / elapsed)}


def cursor_reference(database_url: str, sensor_id: int, rows: int) -> dict[str, Any]:
    """The view's own query alone: the finished CSV lines from a named server-side cursor through
    psycopg, CURSOR_ROWS per fetch, joined and encoded as the view does (no Django, no HTTP)."""
    import psycopg

    from sensors.selectors.readings import CURSOR_ROWS, energy_select_statement

    end = BASE + timedelta(seconds=STEP_S * rows)
    select, params = energy_select_statement(
        sensor_id=sensor_id, start=BASE, end=end, zone_name=None, as_lines=True
    )
    size = 0
    lines = 0
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        with conn.transaction(), conn.cursor(name="bench_export") as server:
            server.execute(select, params)
            while fetched := server.fetchmany(CURSOR_ROWS):
                block = "".join([row[0] for row in fetched]).encode()
                size += len(block)
                lines += len(fetched)
        elapsed = time.perf_counter() - started
    if lines != rows:
        raise RuntimeError(f"cursor: expected {rows} rows, got {lines}")
    return {"seconds": round(elapsed, 3), "bytes": size, "rows_per_s": round(rows / elapsed)}


def dataset_job(user_id: int, rows: int) -> dict[str, Any]:
    """The research dataset job (exports.run_export_job's service) on the household's readings,
    in this process: gzip CSV + manifest under a temporary EXPORTS_ROOT; peak RSS of this
    process sampled meanwhile."""
    import tempfile

    from django.conf import settings

    from energyleaf.users.models import Household
    from exports.models import ExportJob
    from exports.services.dataset import export_job_folder, export_job_run

    with tempfile.TemporaryDirectory(prefix="bench-exports-") as folder:
        settings.EXPORTS_ROOT = Path(folder)
        job = ExportJob.objects.create(
            include_sequences=False, end=BASE + timedelta(seconds=STEP_S * rows)
        )
        job.households.set([Household.objects.get(user_id=user_id)])
        before = current_rss([os.getpid()])[os.getpid()]
        started = time.perf_counter()
        with RssSampler([os.getpid()]) as sampler:
            export_job_run(job_id=job.pk)
        elapsed = time.perf_counter() - started
        job.refresh_from_db()
        if job.status != ExportJob.Status.SUCCEEDED or job.rows_written != rows:
            raise RuntimeError(f"dataset job: {job.status} {job.rows_written} {job.error}")
        size = (export_job_folder(job) / "readings.csv.gz").stat().st_size
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
        "gzip_bytes": size,
        "process_rss_before_mib": round(before / 2**20, 1),
        "process_peak_rss_mib": round(max(sampler.peak.values()) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,5000000,10000000")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--dataset", action="store_true", help="also time the research dataset job (largest size)"
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    os.environ["ENERGYLEAF_JWT_ACCESS_MINUTES"] = "240"
    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    user_id, sensor_id, token = setup_data(sizes[-1])
    common.close_django_connections()

    server = common.WebServer(
        args.database_url,
        workers=args.workers,
        extra_env={"ENERGYLEAF_JWT_ACCESS_MINUTES": "240"},
    )
    results: list[dict[str, Any]] = []
    dataset: dict[str, Any] | None = None
    try:
        server.start()
        workers = server.worker_pids()
        http_export(server.port, token, user_id, 1000)  # warm-up: imports, connection
        idle_rss = current_rss(workers)
        for rows in sizes:
            before = common.cpu_snapshot(server)
            with RssSampler(workers) as sampler:
                streamed = http_export(server.port, token, user_id, rows)
            after = common.cpu_snapshot(server)
            cpu = common.cpu_between(before, after, 0.0)
            ceiling = copy_ceiling(args.database_url, sensor_id, rows)
            reference = cursor_reference(args.database_url, sensor_id, rows)
            peak = max(sampler.peak.values())
            result = {
                "rows": rows,
                "http": streamed,
                "copy_ceiling": ceiling,
                "ratio_to_ceiling": round(streamed["rows_per_s"] / ceiling["rows_per_s"], 3),
                "cursor_alone": reference,
                "ratio_to_cursor_alone": round(streamed["rows_per_s"] / reference["rows_per_s"], 3),
                "worker_peak_rss_mib": round(peak / 2**20, 1),
                "worker_idle_rss_mib": round(max(idle_rss.values()) / 2**20, 1),
                "rss_samples": sampler.samples,
                "cpu": cpu,
            }
            results.append(result)
            common.log(
                f"{rows:,} rows: HTTP {streamed['rows_per_s']:,}/s, COPY "
                f"{ceiling['rows_per_s']:,}/s, cursor alone {reference['rows_per_s']:,}/s, "
                f"peak RSS {result['worker_peak_rss_mib']} MiB"
            )
        problems = server.log_problems()
        if args.dataset:
            server.stop()
            dataset = dataset_job(user_id, sizes[-1])
            common.log(
                f"dataset job {sizes[-1]:,} rows: {dataset['rows_per_s']:,} rows/s, "
                f"{dataset['gzip_bytes'] / 1e6:.0f} MB gzip, peak RSS "
                f"{dataset['process_peak_rss_mib']} MiB"
            )
    finally:
        server.stop()
        common.close_django_connections()
        if not args.keep:
            import psycopg
            from psycopg import sql

            with psycopg.connect(
                args.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True
            ) as conn:
                name = common.database_name(args.database_url)
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            common.log("benchmark database dropped")

    common.print_table(
        [
            "rows",
            "HTTP rows/s",
            "COPY rows/s",
            "ratio",
            "cursor rows/s",
            "ratio",
            "MB",
            "HTTP s",
            "peak RSS MiB",
            "worker CPU s",
            "postgres CPU s",
        ],
        [
            (
                f"{r['rows']:,}",
                f"{r['http']['rows_per_s']:,}",
                f"{r['copy_ceiling']['rows_per_s']:,}",
                r["ratio_to_ceiling"],
                f"{r['cursor_alone']['rows_per_s']:,}",
                r["ratio_to_cursor_alone"],
                round(r["http"]["bytes"] / 1e6),
                r["http"]["seconds"],
                r["worker_peak_rss_mib"],
                r["cpu"]["server_cpu_s"],
                r["cpu"]["postgres_cpu_s"],
            )
            for r in results
        ],
    )
    slowest = min(r["http"]["rows_per_s"] for r in results)
    rss = [r["worker_peak_rss_mib"] for r in results]
    verdict = {
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "slowest_rows_per_s": slowest,
        "meets_target": slowest >= TARGET_ROWS_PER_S,
        "peak_rss_spread_mib": round(max(rss) - min(rss), 1),
        "server_log_problems": problems,
    }
    print(
        f"target >= {TARGET_ROWS_PER_S:,} rows/s: slowest {slowest:,} rows/s "
        f"({'met' if verdict['meets_target'] else 'MISSED'}); peak RSS spread over sizes "
        f"{verdict['peak_rss_spread_mib']} MiB"
    )
    path = common.write_result(
        "export_stream",
        {
            "benchmark": "export_stream",
            "revision": common.git_revision(),
            "machine": common.machine_description(),
            "workers": args.workers,
            "results": results,
            "dataset_job": dataset,
            "verdict": verdict,
        },
    )
    common.log(f"results written to {path}")


if __name__ == "__main__":
    main()
