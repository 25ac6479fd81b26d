"""A whole fleet on one machine: 10 000 kept-alive sensors, each posting a reading every 15 s.

    python bench/fleet.py [--sensors 10000] [--period 15] [--minutes 5] [--client-processes 2]
        [--server gunicorn|gthread|granian|waitress] [--reuse-database]
        [--ceiling-connections 128] [--ceiling-seconds 20]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_fleet]

1. Drops and creates the database, migrates, registers `--sensors` households with one sensor
   each through the services and issues each sensor a token (the token service; the HTTP token
   endpoint is rate-limited per address, and the fleet shares one), valid for a week so that
   `--reuse-database` can use it again. With `--reuse-database` a database left by an earlier run
   of the same size is kept (its tokens come from `var/bench/`): its sensors have readings and
   used tokens, the fleet's steady state, while a fresh run's first reading of each sensor is
   also its token's first use (one write more, in the same statement).
2. Starts the web server as configured for production (`--server`).
3. The client (`--client-processes` processes of this script, asyncio, standard library) opens one
   connection per sensor and keeps it; each sensor posts a SensorDataRequestV2 every `--period`
   seconds of wall time, at its own phase, with timestamps `--period` apart and a rising value,
   waits for the answer and posts the next one on the same connection. A connection the server
   closes is reopened (counted). After `--minutes` no new reading is sent and every answer is
   awaited.
4. The ceiling, on the same server and database: `--ceiling-connections` (128) of the sensors
   post back to back, each its next reading as soon as the last is answered, for
   `--ceiling-seconds` (20). The fleet's load is reported as a ratio of the readings per second
   stored then.
5. Reports readings sent, answered, 2xx, other answers, socket errors, reopened connections,
   latency percentiles (overall and per 15 s of the run), readings stored (must equal the 2xx
   answers exactly), the CPU seconds of the server, PostgreSQL and the client, and the server's
   resident memory; writes
   bench/results/fleet-<time>.json. Target (issue 14): every reading answered and stored, p99 <
   300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.loadgen import ResponseParser, reading_body  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench_fleet"
TARGET_P99_MS = 300
SLICE_S = 15  # the latency's course over the run, per sending period
VALUE0 = 1000.0
VALUE_STEP = 0.002


# --- the client (runs in its own processes) -------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.latencies_us: list[int] = []
        self.sent_at_s: list[int] = []  # second of the run each answered reading was sent in
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.reopened = 0
        self.connect_failures = 0


async def sensor(
    config: dict[str, Any],
    token: str,
    phase: float,
    started: float,
    tally: Tally,
    back_to_back: bool,  # the next reading as soon as the last is answered (the ceiling)
) -> None:
    host, port, period = config["host"], int(config["port"]), float(config["period"])
    head = (
        f"POST /api/v1/sensor_input HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "User-Agent: Energyleaf-Sensor-Digital\r\nContent-Type: application/x-protobuf\r\n"
        "Content-Length: "
    ).encode()
    deadline = started + float(config["seconds"])
    token_bytes = token.encode()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    k = 0
    due = started + phase
    while due < deadline:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if writer is None or writer.is_closing() or reader is None or reader.at_eof():
            if writer is not None:
                writer.close()
                tally.reopened += 1
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                tally.connect_failures += 1
                reader = writer = None
                due += period
                continue
        body = reading_body(
            token_bytes,
            k,
            base_ms=int(config["base_ms"]),
            step_ms=int(period * 1000),
            value0=float(config["value0"]),
            value_step=VALUE_STEP,
        )
        k += 1
        sent_at = time.monotonic()
        tally.sent += 1
        try:
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            parser = ResponseParser()
            async with asyncio.timeout(120):  # no task per read, unlike asyncio.wait_for
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        raise ConnectionResetError
                    if parser.feed(chunk) is not None:
                        break
            tally.latencies_us.append(int((time.monotonic() - sent_at) * 1_000_000))
            tally.sent_at_s.append(int(sent_at - started))
            tally.statuses[parser.status] += 1
            if parser.close:
                writer.close()
        except (OSError, TimeoutError):
            tally.errors += 1
            writer.close()
        due = time.monotonic() if back_to_back else due + period
    if writer is not None:
        writer.close()


async def client_main(config: dict[str, Any]) -> dict[str, Any]:
    tally = Tally()
    rng = random.Random(config["seed"])
    period = float(config["period"])
    back_to_back = config.get("mode") == "ceiling"
    started = time.monotonic() + 2.0
    cpu_before = time.process_time()
    await asyncio.gather(
        *(
            sensor(
                config,
                token,
                0.0 if back_to_back else rng.uniform(0, period),
                started,
                tally,
                back_to_back,
            )
            for token in config["tokens"]
        )
    )
    return {
        "sent": tally.sent,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "reopened": tally.reopened,
        "connect_failures": tally.connect_failures,
        "latencies_us": tally.latencies_us,
        "sent_at_s": tally.sent_at_s,
        "client_cpu_s": time.process_time() - cpu_before,
    }


def run_client(path: str) -> int:
    config = json.loads(Path(path).read_text())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(config["tokens"]) + 200
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))
    # To a file, not a pipe: the latencies are megabytes, and a full pipe would block the client
    # while the orchestrator waits for it to exit.
    Path(config["out"]).write_text(json.dumps(asyncio.run(client_main(config))))
    return 0


# --- the orchestrator -----------------------------------------------------------------------------


TOKEN_LIFETIME_S = 7 * 24 * 3600  # long enough for --reuse-database runs


def issue_tokens(macs: list[str]) -> list[str]:
    from sensors.services import sensor_token_issue

    return [sensor_token_issue(client_id=mac, need_script=False).access_token for mac in macs]


def fleet_file(database_url: str, sensors: int) -> Path:
    return ROOT / "var" / "bench" / f"fleet-{common.database_name(database_url)}-{sensors}.json"


def fleet_prepare(
    database_url: str, sensors: int, reuse: bool
) -> tuple[list[int], list[str], bool]:
    """(sensor ids, tokens, reused): a fresh fleet, or the one an earlier run left."""
    path = fleet_file(database_url, sensors)
    # Read by the settings when Django is set up (below), before any token is issued.
    os.environ["ENERGYLEAF_SENSOR_TOKEN_LIFETIME_SECONDS"] = str(TOKEN_LIFETIME_S)
    if reuse and path.exists():
        saved = json.loads(path.read_text())
        try:
            common.django_setup(database_url)  # migrates nothing when nothing changed
            from sensors.models import Sensor

            found = Sensor.objects.filter(pk__in=saved["sensor_ids"]).count()
        except Exception as error:  # no such database, say: a fresh fleet
            common.log(f"cannot reuse the fleet: {error}")
            found = 0
        if found == sensors and saved["expires_at"] > time.time() + 3600:
            common.log(f"reusing the fleet of {path.relative_to(ROOT)}")
            return saved["sensor_ids"], saved["tokens"], True
        common.log(f"{path.relative_to(ROOT)} does not match the database: a fresh fleet")
        common.close_django_connections()
    common.reset_database(database_url)
    common.django_setup(database_url)
    started = time.perf_counter()
    registered = common.register_households(3, sensors)
    tokens = issue_tokens([mac for _, mac in registered])
    common.log(f"{sensors} households and tokens in {time.perf_counter() - started:.0f} s")
    sensor_ids = [pk for pk, _ in registered]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "sensor_ids": sensor_ids,
                "tokens": tokens,
                "expires_at": time.time() + TOKEN_LIFETIME_S,
            }
        )
    )
    return sensor_ids, tokens, False


def continuation(sensor_ids: list[int], period: float) -> tuple[int, float]:
    """Where the run's readings start (timestamp in ms, register value): 20 days ago at VALUE0,
    or after the newest and above the largest stored reading of a reused fleet."""
    from django.db.models import Max

    from sensors.models import Reading

    start = datetime.now(tz=UTC) - timedelta(days=20)
    stored = Reading.objects.filter(sensor_id__in=sensor_ids).aggregate(
        newest=Max("timestamp"), largest=Max("value")
    )
    value0 = VALUE0
    if stored["newest"] is not None:
        start = max(start, stored["newest"] + timedelta(seconds=period))
        value0 = max(value0, float(stored["largest"]) + VALUE_STEP)
    return int(start.timestamp()) * 1000, value0


def run_clients(
    server: common.WebServer, tokens: list[str], processes: int, config: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Run `processes` client processes over `tokens` against the server; their results, the
    CPU used meanwhile (server, PostgreSQL, clients) and the server's peak memory (KiB)."""
    children = []
    with tempfile.TemporaryDirectory(prefix="energyleaf-bench-fleet-") as tmp:
        for number in range(processes):
            path = Path(tmp) / f"client-{number}.json"
            part = config | {
                "host": "127.0.0.1",
                "port": server.port,
                "seed": int(config["seed"]) + number,
                "tokens": tokens[number::processes],
                "out": str(Path(tmp) / f"client-{number}.out.json"),
            }
            path.write_text(json.dumps(part))
            children.append(
                subprocess.Popen(  # noqa: S603 - fixed command line
                    [sys.executable, str(Path(__file__)), "--client", str(path)], cwd=ROOT
                )
            )
        snapshot = common.cpu_snapshot(server)
        memory_peak = server.memory_kib()
        while any(child.poll() is None for child in children):
            memory_peak = max(memory_peak, server.memory_kib())
            time.sleep(2)
        parts = []
        for number, child in enumerate(children):
            if child.wait(timeout=300) != 0:
                raise RuntimeError(f"fleet client failed ({child.returncode})")
            parts.append(json.loads((Path(tmp) / f"client-{number}.out.json").read_text()))
    client_cpu = sum(part["client_cpu_s"] for part in parts)
    return parts, common.cpu_between(snapshot, common.cpu_snapshot(server), client_cpu), memory_peak


def ceiling_phase(
    server: common.WebServer, args: argparse.Namespace, sensor_ids: list[int], tokens: list[str]
) -> dict[str, Any]:
    """The machine's ceiling in the same run: `--ceiling-connections` of the fleet's sensors post
    back to back (each its next reading as soon as the last is answered) for
    `--ceiling-seconds`, through the same server on the same database."""
    base_ms, value0 = continuation(sensor_ids, args.period)
    before = common.readings_count(sensor_ids)
    common.close_django_connections()
    chosen = tokens[: args.ceiling_connections]
    common.log(f"ceiling: {len(chosen)} sensors back to back for {args.ceiling_seconds:.0f} s")
    parts, cpu, _ = run_clients(
        server,
        chosen,
        max(1, args.client_processes),
        {
            "mode": "ceiling",
            "period": args.period,
            "seconds": args.ceiling_seconds,
            "base_ms": base_ms,
            "value0": value0,
            "seed": args.seed + 100,
        },
    )
    latencies = sorted(x for part in parts for x in part["latencies_us"])
    ok = common.ok_count(common.merged_statuses(parts))
    stored = common.settled_readings_count(sensor_ids) - before
    common.close_django_connections()
    return {
        "connections": len(chosen),
        "stored": stored,
        "stored_matches_2xx": stored == ok,
        "seconds": args.ceiling_seconds,
        "answered": len(latencies),
        "ok": ok,
        "readings_per_s": round(ok / args.ceiling_seconds, 1),
        "latency_ms": {
            name: round(common.percentile(latencies, q) / 1000, 1)
            for name, q in (("p50", 0.5), ("p99", 0.99))
        },
        "cpu": cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--period", type=float, default=15.0)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--server", choices=common.SERVER_KINDS, default="gunicorn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--reuse-database",
        action="store_true",
        help="keep the fleet an earlier run of the same size left (steady state: used tokens)",
    )
    parser.add_argument(
        "--ceiling-connections",
        type=int,
        default=128,
        help="sensors posting back to back after the run, for the ceiling (0: none)",
    )
    parser.add_argument("--ceiling-seconds", type=float, default=20.0)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run one client process
    args = parser.parse_args()
    if args.client:
        return run_client(args.client)
    if not 1 <= args.sensors <= 60_000 or not 1 <= args.period <= 600:
        parser.error("--sensors must be 1..60000 and --period 1..600")

    now = datetime.now(tz=UTC)
    sensor_ids, tokens, reused = fleet_prepare(args.database_url, args.sensors, args.reuse_database)
    base_ms, value0 = continuation(sensor_ids, args.period)
    stored_before = common.readings_count(sensor_ids)
    common.close_django_connections()
    seconds = args.minutes * 60
    server = common.WebServer(args.database_url, kind=args.server)
    results: dict[str, Any] = {
        "benchmark": "fleet",
        "started_at": now.isoformat(),
        "revision": common.git_revision(),
        "machine": common.machine_description(),
        "parameters": vars(args),
        "reused_fleet": reused,
    }
    try:
        server.start()
        memory_idle = server.memory_kib()
        common.log(
            f"{args.sensors} sensors posting every {args.period:.0f} s for {seconds:.0f} s "
            f"({args.sensors / args.period:.0f} readings/s) against {args.server}"
        )
        parts, cpu, memory_peak = run_clients(
            server,
            tokens,
            max(1, args.client_processes),
            {
                "period": args.period,
                "seconds": seconds,
                "base_ms": base_ms,
                "value0": value0,
                "seed": args.seed,
            },
        )
        results["server_log_problem_lines"] = server.log_problems()
        stored = common.settled_readings_count(sensor_ids) - stored_before
        if args.ceiling_connections > 0 and args.ceiling_seconds > 0:
            results["ceiling"] = ceiling_phase(server, args, sensor_ids, tokens)
    finally:
        server.stop()
    latencies = sorted(x for part in parts for x in part["latencies_us"])
    slices: dict[int, list[int]] = {}
    for part in parts:
        for second, latency in zip(part["sent_at_s"], part["latencies_us"], strict=True):
            slices.setdefault(max(0, second) // SLICE_S, []).append(latency)
    course = []
    for number in sorted(slices):
        values = sorted(slices[number])
        course.append(
            {
                "from_s": number * SLICE_S,
                "readings": len(values),
                "p50_ms": round(common.percentile(values, 0.5) / 1000, 1),
                "p99_ms": round(common.percentile(values, 0.99) / 1000, 1),
            }
        )
    statuses = common.merged_statuses(parts)
    ok = common.ok_count(statuses)
    results.update(
        {
            "sent": sum(part["sent"] for part in parts),
            "answered": len(latencies),
            "ok": ok,
            "statuses": dict(statuses),
            "socket_errors": sum(part["errors"] for part in parts),
            "reopened_connections": sum(part["reopened"] for part in parts),
            "connect_failures": sum(part["connect_failures"] for part in parts),
            "stored": stored,
            "stored_matches_2xx": stored == ok,
            "readings_per_s": round(len(latencies) / seconds, 1),
            "offered_per_s": round(args.sensors / args.period, 1),
            "latency_ms": {
                name: round(common.percentile(latencies, q) / 1000, 1)
                for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))
            }
            | {"max": round((latencies[-1] if latencies else 0) / 1000, 1)},
            "latency_by_slice": course,
            "cpu": cpu,
            "server_memory_mib": {
                "idle": round(memory_idle / 1024, 1),
                "peak": round(memory_peak / 1024, 1),
            },
        }
    )
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    report(results)
    path = common.write_result("fleet", results)
    common.log(f"results written to {path.relative_to(ROOT)}")
    return 0


def report(r: dict[str, Any]) -> None:
    cpu, lat = r["cpu"], r["latency_ms"]
    wall = max(1e-9, cpu["wall_s"])
    print()
    print(
        f"sent {r['sent']}, answered {r['answered']}, 2xx {r['ok']}, "
        f"other {r['answered'] - r['ok']}"
        f" ({r['statuses']}), socket errors {r['socket_errors']}, reopened connections "
        f"{r['reopened_connections']}, connect failures {r['connect_failures']}"
    )
    print(f"stored {r['stored']} == 2xx: {r['stored_matches_2xx']}")
    print(
        "fleet: reused (used tokens, stored readings)"
        if r["reused_fleet"]
        else "fleet: fresh; first readings are their tokens' first use"
    )
    print(
        f"{r['readings_per_s']} readings/s; latency p50 {lat['p50']} ms, p90 {lat['p90']} ms, "
        f"p99 {lat['p99']} ms, p99.9 {lat['p999']} ms, max {lat['max']} ms"
    )
    print(
        f"CPU cores used: server {cpu['server_cpu_s'] / wall:.2f}, PostgreSQL "
        f"{cpu['postgres_cpu_s'] / wall:.2f}, client {cpu['client_cpu_s'] / wall:.2f}, other "
        f"{cpu['other_cpu_s'] / wall:.2f} (machine {cpu['machine_utilisation']:.0%} of "
        f"{cpu['cores']} cores)"
    )
    print(
        "p99 ms per 15 s: "
        + " ".join(f"{c['from_s']}s:{c['p99_ms']:.0f}" for c in r["latency_by_slice"])
    )
    print(
        f"server memory: {r['server_memory_mib']['idle']} MiB idle, "
        f"{r['server_memory_mib']['peak']} MiB peak"
    )
    ceiling = r.get("ceiling")
    if ceiling:
        c_cpu = ceiling["cpu"]
        c_wall = max(1e-9, c_cpu["wall_s"])
        print(
            f"ceiling ({ceiling['connections']} of the sensors back to back, "
            f"{ceiling['seconds']:.0f} s): {ceiling['readings_per_s']} readings/s, p50 "
            f"{ceiling['latency_ms']['p50']} ms, p99 {ceiling['latency_ms']['p99']} ms, stored "
            f"== 2xx: {ceiling['stored_matches_2xx']}; CPU cores: server "
            f"{c_cpu['server_cpu_s'] / c_wall:.2f}, PostgreSQL "
            f"{c_cpu['postgres_cpu_s'] / c_wall:.2f}, client {c_cpu['client_cpu_s'] / c_wall:.2f}"
        )
        print(
            f"the fleet's load is {r['offered_per_s'] / max(1e-9, ceiling['readings_per_s']):.2f} "
            "x that ceiling"
        )
    verdict = r["answered"] == r["sent"] and r["stored_matches_2xx"] and r["ok"] == r["sent"]
    print(
        f"targets: {'ok ' if verdict else 'MISS'} every reading answered 2xx and stored; "
        f"{'ok ' if lat['p99'] < TARGET_P99_MS else 'MISS'} p99 < {TARGET_P99_MS} ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
