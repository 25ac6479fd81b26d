"""Benchmark of `POST /api/v1/sensor_input/batch` against a raw COPY ceiling, in the same run.

    python bench/batch_upload.py [--size 10000] [--requests 5] [--workers N]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench]

Same setup as bench/sensor_input.py (fresh database, households and sensors through the
services, tokens from the real `/api/v1/token`, gunicorn with gunicorn.conf.py). Then, with
protobuf batches of `--size` readings (`encode_batch`, millisecond timestamps 15 s apart):

1. sequential: one client posts `--requests` batches of one sensor, one after the other;
2. concurrent: two clients, each its own sensor and connection, `--requests` batches each;
3. duplicates: the batches of 1. again (all duplicates, nothing stored);
4. ceilings: the same rows written straight into the readings table with psycopg, one
   transaction per batch, as COPY and as executemany (no HTTP, no Django, no validation);
5. paired: `--requests` rounds of one HTTP batch (1 client, a sensor of its own) followed by
   one COPY of the same rows (another sensor), so that both see the same machine load; the
   ratio is the COPY time over the HTTP time, per round and summed (what a shared, busy machine
   can compare fairly).

Reports readings/s end to end (HTTP included, wall time) and the ratio to the COPY ceiling,
checks the stored counts and writes bench/results/batch_upload-<time>.json.
Targets (docs/design.md, "Performance targets"): >= 50 000 readings/s and >= 0.8 x COPY.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

STEP_MS = 15_000
TARGET_READINGS_PER_S = 50_000
TARGET_RATIO = 0.8  # of COPY (docs/design.md, "Performance targets")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reading(k: int, base_ms: int) -> tuple[float, float, int]:
    """(value kWh, value_current W, timestamp ms) of reading k of a sensor."""
    return 1000.0 + k * 0.002, float(480 + k % 40), base_ms + k * STEP_MS


def batch_body(token: str, first: int, size: int, base_ms: int) -> bytes:
    from sensors.protobuf import mapping

    readings = []
    for k in range(first, first + size):
        value, current, stamp = reading(k, base_ms)
        readings.append(
            mapping.BatchReadingData(
                value=value, value_current=current, value_out=None, timestamp_raw=stamp
            )
        )
    return mapping.encode_batch(
        mapping.BatchData(access_token=token, sensor_type=1, readings=tuple(readings))
    )


class Client:
    """One keep-alive connection posting batches; records per-request figures."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.requests: list[dict[str, Any]] = []

    def post(self, body: bytes) -> dict[str, Any]:
        from sensors.protobuf import energyleaf_batch_pb2 as batch_pb

        started = time.perf_counter()
        self.conn.request(
            "POST",
            "/api/v1/sensor_input/batch",
            body=body,
            headers={"Content-Type": common.PROTOBUF},
        )
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        answer = batch_pb.SensorDataBatchResponse()
        answer.ParseFromString(payload)
        figures = {
            "http_status": response.status,
            "seconds": round(elapsed, 4),
            "accepted": answer.accepted,
            "duplicates": answer.duplicates,
            "rejected": answer.rejected,
            "response_bytes": len(payload),
        }
        self.requests.append(figures)
        return figures

    def close(self) -> None:
        self.conn.close()


def http_phase(
    server: common.WebServer, name: str, streams: list[list[bytes]], size: int, count_ids: list[int]
) -> dict[str, Any]:
    """Each stream is posted by its own client thread; the phase's wall time covers them all."""
    before = common.readings_count(count_ids)
    clients = [Client(server.port) for _ in streams]
    errors: list[BaseException] = []

    def work(client: Client, bodies: list[bytes]) -> None:
        try:
            for body in bodies:
                client.post(body)
        except BaseException as exc:  # reported below, the thread must not die silently
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(c, b), daemon=True)
        for c, b in zip(clients, streams, strict=True)
    ]
    snapshot = common.cpu_snapshot(server)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    wall = time.perf_counter() - started
    cpu = common.cpu_between(snapshot, common.cpu_snapshot(server), 0.0)
    for client in clients:
        client.close()
    if errors:
        raise RuntimeError(f"{name}: {errors[0]!r}")
    requests = [r for c in clients for r in c.requests]
    readings = size * len(requests)
    stored = common.readings_count(count_ids) - before
    result = {
        "clients": len(streams),
        "requests": len(requests),
        "readings": readings,
        "wall_s": round(wall, 3),
        "readings_per_s": readings / wall,
        "request_seconds": [r["seconds"] for r in requests],
        "http_statuses": sorted({r["http_status"] for r in requests}),
        "accepted": sum(r["accepted"] for r in requests),
        "duplicates": sum(r["duplicates"] for r in requests),
        "rejected": sum(r["rejected"] for r in requests),
        "response_bytes": requests[0]["response_bytes"] if requests else 0,
        "stored_readings": stored,
        "cpu": cpu,
    }
    common.log(
        f"{name}: {readings} readings in {wall:.2f} s = {result['readings_per_s']:,.0f}/s "
        f"(accepted {result['accepted']}, duplicates {result['duplicates']}, "
        f"rejected {result['rejected']}, stored {stored})"
    )
    return result


def ceiling_rows(sensor_id: int, first: int, size: int, base_ms: int) -> list[tuple[Any, ...]]:
    now = datetime.now(tz=UTC)
    rows = []
    for k in range(first, first + size):
        value, current, stamp = reading(k, base_ms)
        rows.append(
            (
                sensor_id,
                EPOCH + timedelta(milliseconds=stamp),
                Decimal(repr(value)),
                Decimal("0.002") if k else Decimal(0),
                None,
                None,
                Decimal(repr(current)),
                0,
                now,
            )
        )
    return rows


COLUMNS = "sensor_id, timestamp, value, consumption, value_out, inserted, value_current, flags, "
COLUMNS += "received_at"


def ceiling_phase(
    database_url: str, method: str, sensor_id: int, size: int, requests: int, base_ms: int
) -> dict[str, Any]:
    """The same rows straight into the readings table, one transaction per batch: the
    database's write ceiling. Building the Python rows (datetime, Decimal) is timed apart."""
    import psycopg

    from sensors.models import Reading

    table = Reading._meta.db_table
    started = time.perf_counter()
    batches = [ceiling_rows(sensor_id, n * size, size, base_ms) for n in range(requests)]
    build = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        for rows in batches:
            with conn.transaction(), conn.cursor() as cursor:
                if method == "copy":
                    with cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(
                        f"INSERT INTO {table} ({COLUMNS}) VALUES "  # noqa: S608
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
    wall = time.perf_counter() - started
    readings = size * requests
    stored = common.readings_count([sensor_id])
    common.log(
        f"ceiling {method}: {readings} rows in {wall:.2f} s = {readings / wall:,.0f}/s "
        f"(building the Python rows took {build:.2f} s more)"
    )
    return {
        "readings": readings,
        "wall_s": round(wall, 3),
        "row_building_s": round(build, 3),
        "readings_per_s": readings / wall,
        "stored_readings": stored,
    }


def paired_phase(
    server: common.WebServer,
    database_url: str,
    token: str,
    ids: tuple[int, int],
    size: int,
    requests: int,
    base_ms: int,
) -> dict[str, Any]:
    """HTTP batch and COPY of the same rows, alternating, each round timed apart."""
    import psycopg

    from sensors.models import Reading

    http_id, copy_id = ids
    table = Reading._meta.db_table
    bodies = [batch_body(token, n * size, size, base_ms) for n in range(requests)]
    rows = [ceiling_rows(copy_id, n * size, size, base_ms) for n in range(requests)]
    client = Client(server.port)
    http_s: list[float] = []
    copy_s: list[float] = []
    try:
        with psycopg.connect(database_url) as conn:
            for body, batch in zip(bodies, rows, strict=True):
                http_s.append(client.post(body)["seconds"])
                started = time.perf_counter()
                with (
                    conn.transaction(),
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy,
                ):
                    for row in batch:
                        copy.write_row(row)
                copy_s.append(time.perf_counter() - started)
    finally:
        client.close()
    ratios = [c / h for c, h in zip(copy_s, http_s, strict=True)]
    result = {
        "rounds": requests,
        "http_seconds": [round(x, 4) for x in http_s],
        "copy_seconds": [round(x, 4) for x in copy_s],
        "ratios": [round(x, 3) for x in ratios],
        "ratio_total": sum(copy_s) / sum(http_s),
        "http_readings_per_s": size * requests / sum(http_s),
        "copy_readings_per_s": size * requests / sum(copy_s),
        "stored_http": common.readings_count([http_id]),
        "stored_copy": common.readings_count([copy_id]),
    }
    common.log(
        f"paired: HTTP {result['http_readings_per_s']:,.0f}/s, COPY "
        f"{result['copy_readings_per_s']:,.0f}/s, ratio {result['ratio_total']:.3f} "
        f"(per round {result['ratios']})"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="readings per request")
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--workers", type=int, default=0, help="default: as configured")
    parser.add_argument("--threads", type=int, default=0, help="default: as configured")
    parser.add_argument("--database-url", default=common.DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if not 1 <= args.size <= 20_000 or not 1 <= args.requests <= 100:
        parser.error("--size must be 1..20000 (the server's limit) and --requests 1..100")
    if args.size * args.requests * STEP_MS > 29 * 86_400_000:
        parser.error("--size x --requests readings 15 s apart must fit in 29 days")

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    now = datetime.now(tz=UTC)
    base_ms = int((now - timedelta(days=30)).timestamp()) * 1000
    sensors = common.register_households(4, 8)
    ids = [pk for pk, _ in sensors]
    seq_id, conc_ids, copy_id, many_id, warm_id = ids[0], ids[1:3], ids[3], ids[4], ids[5]
    paired_ids = (ids[6], ids[7])
    common.close_django_connections()

    server = common.WebServer(args.database_url, workers=args.workers, threads=args.threads)
    results: dict[str, Any] = {
        "benchmark": "batch_upload",
        "started_at": now.isoformat(),
        "revision": common.git_revision(),
        "machine": common.machine_description(),
        "parameters": vars(args),
    }
    try:
        server.start()
        results["server"] = {"workers": len(server.worker_pids())}
        tokens = common.fetch_tokens(server.port, [mac for _, mac in sensors])
        by_id = dict(zip(ids, tokens, strict=True))
        common.log(f"encoding {3 * args.requests} batches of {args.size} readings")
        sequential = [
            batch_body(by_id[seq_id], n * args.size, args.size, base_ms)
            for n in range(args.requests)
        ]
        concurrent = [
            [batch_body(by_id[pk], n * args.size, args.size, base_ms) for n in range(args.requests)]
            for pk in conc_ids
        ]
        results["request_bytes"] = len(sequential[0])
        # Warm-up: every worker imports and connects; a few small batches of a spare sensor.
        warm = [batch_body(by_id[warm_id], n * 500, 500, base_ms) for n in range(12)]
        http_phase(server, "warm-up", [warm[0::2], warm[1::2]], 500, [warm_id])
        results["sequential"] = http_phase(
            server, "sequential, 1 client", [sequential], args.size, [seq_id]
        )
        results["concurrent"] = http_phase(
            server, "concurrent, 2 clients", concurrent, args.size, conc_ids
        )
        results["duplicates"] = http_phase(
            server, "re-sent (duplicates), 1 client", [sequential], args.size, [seq_id]
        )
        results["paired"] = paired_phase(
            server,
            args.database_url,
            by_id[paired_ids[0]],
            paired_ids,
            args.size,
            args.requests,
            base_ms,
        )
        results["server"]["log_problem_lines"] = server.log_problems()
    finally:
        server.stop()
    results["ceiling_copy"] = ceiling_phase(
        args.database_url, "copy", copy_id, args.size, args.requests, base_ms
    )
    results["ceiling_executemany"] = ceiling_phase(
        args.database_url, "executemany", many_id, args.size, args.requests, base_ms
    )
    report(results, args)
    path = common.write_result("batch_upload", results)
    common.log(f"results written to {path.relative_to(ROOT)}")
    return 0


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    ceiling = results["ceiling_copy"]["readings_per_s"]
    rows = []
    for key, label in (
        ("sequential", "HTTP batch, 1 client"),
        ("concurrent", "HTTP batch, 2 clients"),
        ("duplicates", "HTTP batch re-sent (dups)"),
        ("ceiling_copy", "ceiling: psycopg COPY"),
        ("ceiling_executemany", "ceiling: psycopg executemany"),
    ):
        r = results[key]
        cpu = r.get("cpu", {})
        per_request = r.get("request_seconds") or []
        rows.append(
            [
                label,
                f"{r['readings_per_s']:,.0f}",
                f"{r['readings_per_s'] / ceiling:.3f}",
                f"{1000 * sum(per_request) / len(per_request):.0f}" if per_request else "-",
                r["stored_readings"],
                f"{cpu['server_cpu_s']:.2f}" if cpu else "-",
                f"{cpu['postgres_cpu_s']:.2f}" if cpu else "-",
                f"{cpu['other_cpu_s']:.2f}" if cpu else "-",
            ]
        )
    print()
    common.print_table(
        ["phase", "readings/s", "/COPY", "ms/request", "stored", "srv cpu s", "pg cpu s", "other"],
        rows,
    )
    expected = args.size * args.requests
    checks = {
        "sequential stored": results["sequential"]["stored_readings"] == expected,
        "concurrent stored": results["concurrent"]["stored_readings"] == 2 * expected,
        "re-sent stored nothing": results["duplicates"]["stored_readings"] == 0,
        "re-sent all duplicates": results["duplicates"]["duplicates"] == expected,
        "paired stored": results["paired"]["stored_http"] == expected
        and results["paired"]["stored_copy"] == expected,
    }
    best = max(results["sequential"]["readings_per_s"], results["concurrent"]["readings_per_s"])
    verdict = "ok" if best >= TARGET_READINGS_PER_S else "MISS"
    paired = results["paired"]
    print()
    print(
        f"paired rounds (HTTP batch, then COPY of the same rows): HTTP "
        f"{paired['http_readings_per_s']:,.0f}/s, COPY {paired['copy_readings_per_s']:,.0f}/s, "
        f"ratio {paired['ratio_total']:.3f} (per round {paired['ratios']}; target >= "
        f"{TARGET_RATIO})"
    )
    print(f"request body {results['request_bytes']:,} bytes for {args.size} readings")
    print(f"checks: {checks}")
    print(f"target: {verdict} >= {TARGET_READINGS_PER_S:,} readings/s (best {best:,.0f}/s)")
    print(f"server log lines with errors: {results['server'].get('log_problem_lines')}")
    results["checks"] = checks


if __name__ == "__main__":
    raise SystemExit(main())
