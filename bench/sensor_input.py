"""Benchmark of `POST /api/v1/sensor_input` against a bare Django view, in the same run.

    python bench/sensor_input.py [--seconds 20] [--connections 64] [--sensors 64]
        [--server gunicorn|gthread|granian|waitress] [--workers N] [--threads N]
        [--client auto|wrk|python] [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench]

Drops and creates the database (its name must contain "bench"), migrates it, registers one
household and sensor per simulated sensor through the services (two groups: one for the real
endpoint, one for the bare view), fetches a token per sensor from the real `/api/v1/token`,
starts the web server (`--server`, default gunicorn as configured for production; production
settings plus `/bench/bare`, access log off), warms both endpoints up and then loads each for
`--seconds` with `--connections` keep-alive connections, each its own sensor (connections share
sensors when --sensors is smaller); also `/bench/noop` (same answer, no database) as the server
+ Django floor unless --no-floor. Prints requests/s, latency percentiles, non-2xx answers, CPU
seconds per request (server, PostgreSQL, client, other) and the ratio sensor_input / bare, checks
that the stored readings match the 2xx answers, and writes bench/results/sensor_input-<time>.json.

Load generator: wrk (`apt-get install -y wrk`) with bench/sensor_input.lua when it is on PATH,
else bench/loadgen.py (asyncio, standard library) in `--client-processes` processes. wrk costs far
less CPU, which matters on a 2-core machine where client and server share the cores.
Targets (docs/design.md, "Performance targets"): >= 1000 requests/s and p99 < 200 ms at 64
connections, >= 0.9 of bare. The bare view is the floor of a stored reading (one SELECT, one
INSERT); a plain live reading costs two statements as well (sensors/services/live.py: one read of
token, sensor and neighbours, one database function that locks, re-checks and inserts), so the
remaining gap is Python: DRF, planning and the wider rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.loadgen import reading_body  # noqa: E402

STEP_MS = 15_000  # a reading every 15 s of meter time, as the Tasmota driver posts
VALUE0 = 1000.0  # kWh
VALUE_STEP = 0.002  # kWh per reading (480 W): far below the plausibility limit
TARGET_RPS = 1000
TARGET_P99_MS = 200
TARGET_RATIO = 0.9


class Group:
    """Simulated sensors of one endpoint: their ids, tokens and the next reading index."""

    def __init__(
        self, name: str, path: str, sensors: list[tuple[int, str]], *, stores: bool = True
    ) -> None:
        self.name = name
        self.path = path
        self.stores = stores
        self.sensor_ids = [pk for pk, _ in sensors]
        self.macs = [mac for _, mac in sensors]
        self.tokens: list[str] = []
        self.base_ms = 0

    def next_indices(self) -> dict[int, int]:
        """Per sensor id, the index after its latest stored reading (0 when it has none)."""
        from django.db.models import Max

        from sensors.models import Reading

        common.close_django_connections()
        latest = dict(
            Reading.objects.filter(sensor_id__in=self.sensor_ids)
            .values_list("sensor_id")
            .annotate(last=Max("timestamp"))
            .values_list("sensor_id", "last")
        )
        indices = {}
        for pk in self.sensor_ids:
            moment = latest.get(pk)
            if moment is None or self.path != "/api/v1/sensor_input":
                indices[pk] = 0
            else:
                indices[pk] = (int(moment.timestamp() * 1000) - self.base_ms) // STEP_MS + 1
        return indices

    def connections(self, count: int) -> list[tuple[str, int, int]]:
        """(token, first index, stride) per connection; connections sharing a sensor interleave."""
        indices = self.next_indices()
        sensors = len(self.tokens)
        stride = -(-count // sensors)  # connections per sensor, rounded up
        plan = []
        for number in range(count):
            sensor = number % sensors
            plan.append(
                (
                    self.tokens[sensor],
                    indices[self.sensor_ids[sensor]] + number // sensors,
                    stride,
                )
            )
        return plan


# --- load generators ------------------------------------------------------------------------------


def run_wrk(
    port: int, group: Group, connections: int, seconds: float, workdir: Path
) -> dict[str, Any]:
    plan = group.connections(connections)
    if any(stride != 1 for _, _, stride in plan):
        raise SystemExit("wrk mode needs --sensors >= --connections; use --client python")
    config = workdir / f"wrk-{group.name}.txt"
    lines = [f"{group.path} {group.base_ms} {STEP_MS} {VALUE0!r} {VALUE_STEP!r}"]
    lines += [f"{token} {index}" for token, index, _ in plan]
    config.write_text("\n".join(lines) + "\n")
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(ROOT / "bench" / "sensor_input.lua"),
        f"http://127.0.0.1:{port}{group.path}",
        "--",
        str(config),
    ]
    cpu_before = common.children_cpu_seconds()
    result = subprocess.run(  # noqa: S603 - fixed command line
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    client_cpu = common.children_cpu_seconds() - cpu_before
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    elapsed = data["duration_us"] / 1e6
    latency = data["latency_us"]
    errors = data["errors"]
    return {
        "client": "wrk",
        "elapsed_s": elapsed,
        "completed": data["requests"],
        "sent": data["sent"],
        "ok": data["ok"],
        "non2xx": data["non2xx"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "requests_per_s": data["requests"] / elapsed,
        "latency_ms": {k: latency[k] / 1000 for k in ("mean", "p50", "p90", "p99", "p999", "max")},
        "client_cpu_s": client_cpu,
        "abandoned_in_flight": data["sent"] - data["ok"] - data["non2xx"],
    }


def run_python(
    port: int, group: Group, connections: int, seconds: float, workdir: Path, processes: int
) -> dict[str, Any]:
    plan = group.connections(connections)
    processes = max(1, min(processes, connections))
    start_at = time.time() + 1.0 + 0.02 * connections
    children = []
    for number in range(processes):
        config = {
            "host": "127.0.0.1",
            "port": port,
            "path": group.path,
            "seconds": seconds,
            "start_at": start_at,
            "base_ms": group.base_ms,
            "step_ms": STEP_MS,
            "value0": VALUE0,
            "value_step": VALUE_STEP,
            "connections": plan[number::processes],
        }
        path = workdir / f"loadgen-{group.name}-{number}.json"
        path.write_text(json.dumps(config))
        children.append(
            subprocess.Popen(  # noqa: S603 - fixed command line
                [sys.executable, "-m", "bench.loadgen", str(path)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    cpu_before = common.children_cpu_seconds()
    parts = []
    for child in children:
        out, _ = child.communicate(timeout=seconds + 120)
        if child.returncode != 0:
            raise RuntimeError(f"load generator failed ({child.returncode})")
        parts.append(json.loads(out))
    client_cpu = common.children_cpu_seconds() - cpu_before
    latencies = sorted(x for part in parts for x in part["latencies_us"])
    statuses = common.merged_statuses(parts)
    ok = common.ok_count(statuses)
    elapsed = max(part["elapsed_s"] for part in parts)
    completed = len(latencies)
    return {
        "client": f"python x{processes}",
        "elapsed_s": elapsed,
        "completed": completed,
        "sent": sum(part["sent"] for part in parts),
        "ok": ok,
        "non2xx": completed - ok,
        "statuses": statuses,
        "socket_errors": sum(part["errors"] for part in parts),
        "requests_per_s": completed / elapsed,
        "latency_ms": {
            "mean": sum(latencies) / max(1, completed) / 1000,
            "p50": common.percentile(latencies, 0.50) / 1000,
            "p90": common.percentile(latencies, 0.90) / 1000,
            "p99": common.percentile(latencies, 0.99) / 1000,
            "p999": common.percentile(latencies, 0.999) / 1000,
            "max": (latencies[-1] if latencies else 0) / 1000,
        },
        "client_cpu_s": client_cpu,
        "client_busy_fraction": round(
            sum(part["client_cpu_s"] for part in parts) / (elapsed * processes), 3
        ),
        "abandoned_in_flight": 0,
    }


# --- the run --------------------------------------------------------------------------------------


def check_body_encoding(token: str) -> None:
    """The hand-written bodies of both load generators decode like the project's encoder's."""
    from sensors.protobuf import mapping

    base_ms = 1_700_000_000_000
    ours = reading_body(
        token.encode(), 7, base_ms=base_ms, step_ms=STEP_MS, value0=VALUE0, value_step=VALUE_STEP
    )
    reference = mapping.encode_sensor_input(
        mapping.ReadingData(
            access_token=token,
            sensor_type=1,
            value=VALUE0 + 7 * VALUE_STEP,
            value_current=float(480 + 7),
            value_out=None,
            timestamp_raw=base_ms + 7 * STEP_MS,
            wire_format="v2",
        )
    )
    if mapping.decode_sensor_input(ours) != mapping.decode_sensor_input(reference):
        raise SystemExit("load generator body encoding differs from sensors.protobuf.mapping")


def phase(
    args: argparse.Namespace,
    server: common.WebServer,
    group: Group,
    seconds: float,
    workdir: Path,
    client: str,
) -> dict[str, Any]:
    before_count = common.settled_readings_count(group.sensor_ids)
    snapshot = common.cpu_snapshot(server)
    if client == "wrk":
        result = run_wrk(server.port, group, args.connections, seconds, workdir)
    else:
        result = run_python(
            server.port, group, args.connections, seconds, workdir, args.client_processes
        )
    cpu = common.cpu_between(snapshot, common.cpu_snapshot(server), result["client_cpu_s"])
    stored = common.settled_readings_count(group.sensor_ids) - before_count
    result["stored_readings"] = stored
    if not group.stores:
        result["stored_matches_2xx"] = stored == 0
    else:
        in_flight = result["abandoned_in_flight"]
        result["stored_matches_2xx"] = result["ok"] <= stored <= result["ok"] + in_flight
    result["cpu"] = cpu
    done = max(1, result["completed"])
    result["cpu_ms_per_request"] = {
        "server": round(cpu["server_cpu_s"] / done * 1000, 3),
        "postgres": round(cpu["postgres_cpu_s"] / done * 1000, 3),
        "client": round(cpu["client_cpu_s"] / done * 1000, 3),
        "other": round(cpu["other_cpu_s"] / done * 1000, 3),
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sensors", type=int, default=0, help="default: one per connection")
    parser.add_argument("--server", choices=common.SERVER_KINDS, default="gunicorn")
    parser.add_argument("--workers", type=int, default=0, help="default: as configured")
    parser.add_argument("--threads", type=int, default=0, help="default: as configured")
    parser.add_argument("--rounds", type=int, default=1, help="measure both endpoints N times")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip /bench/noop (same answer, no database: the server + Django floor)",
    )
    parser.add_argument("--database-url", default=common.DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    if not 1 <= args.connections <= 1000 or not 0.5 <= args.seconds <= 600:
        parser.error("--connections must be 1..1000 and --seconds 0.5..600")
    sensors = args.sensors or args.connections
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
        if client == "python":
            common.log("wrk not found (apt-get install -y wrk): using bench/loadgen.py")
    elif client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk, or use --client python")
    if client == "wrk" and sensors < args.connections:
        raise SystemExit("wrk mode needs --sensors >= --connections; use --client python")

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    now = datetime.now(tz=UTC)
    real = Group("sensor_input", "/api/v1/sensor_input", common.register_households(1, sensors))
    bare_sensors = common.register_households(2, sensors)
    bare = Group("bare", "/bench/bare", bare_sensors)
    noop = Group("noop", "/bench/noop", bare_sensors, stores=False)
    # Meter time starts 30 days back: 172 800 readings per sensor fit before "now".
    real.base_ms = bare.base_ms = int((now - timedelta(days=30)).timestamp()) * 1000
    common.log(f"registered {2 * sensors} households with one sensor each")
    common.close_django_connections()

    server = common.WebServer(
        args.database_url, kind=args.server, workers=args.workers, threads=args.threads
    )
    results: dict[str, Any] = {
        "benchmark": "sensor_input",
        "started_at": now.isoformat(),
        "revision": common.git_revision(),
        "machine": common.machine_description(),
        "parameters": {**vars(args), "sensors": sensors, "client": client},
        "rounds": [],
    }
    try:
        server.start()
        results["server"] = {
            "workers": len(server.worker_pids()),
            "kind": args.server,
            "threads": args.threads or "as configured",
        }
        real.tokens = common.fetch_tokens(server.port, real.macs)
        bare.tokens = common.fetch_tokens(server.port, bare.macs)
        noop.tokens = bare.tokens
        groups = [real, bare] + ([noop] if args.floor else [])
        check_body_encoding(real.tokens[0])
        common.log(f"{2 * sensors} tokens from /api/v1/token; client {client}")
        with tempfile.TemporaryDirectory(prefix="energyleaf-bench-") as tmp:
            workdir = Path(tmp)
            for group in groups:
                warm = phase(args, server, group, args.warmup, workdir, client)
                common.log(
                    f"warm-up {group.name}: {warm['requests_per_s']:.0f} req/s, "
                    f"{warm['non2xx']} non-2xx"
                )
            for number in range(args.rounds):
                figures = {}
                for group in groups:
                    common.log(f"round {number + 1}: {group.name} for {args.seconds:.0f} s")
                    figures[group.name] = phase(args, server, group, args.seconds, workdir, client)
                results["rounds"].append(figures)
        results["server"]["log_problem_lines"] = server.log_problems()
    finally:
        server.stop()
    report(results)
    path = common.write_result("sensor_input", results)
    common.log(f"results written to {path.relative_to(ROOT)}")
    return 0


def report(results: dict[str, Any]) -> None:
    headers = [
        "round/endpoint",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "non-2xx",
        "stored",
        "2xx",
        "srv ms/req",
        "pg ms/req",
        "cli ms/req",
        "other",
        "busy",
    ]
    rows = []
    for number, figures in enumerate(results["rounds"], start=1):
        for name, r in figures.items():
            lat = r["latency_ms"]
            cpu = r["cpu_ms_per_request"]
            rows.append(
                [
                    f"{number} {name}",
                    f"{r['requests_per_s']:.0f}",
                    f"{lat['p50']:.1f}",
                    f"{lat['p90']:.1f}",
                    f"{lat['p99']:.1f}",
                    f"{lat['max']:.0f}",
                    r["non2xx"] + r["socket_errors"],
                    r["stored_readings"],
                    r["ok"],
                    f"{cpu['server']:.2f}",
                    f"{cpu['postgres']:.2f}",
                    f"{cpu['client']:.2f}",
                    f"{cpu['other']:.2f}",
                    f"{r['cpu']['machine_utilisation']:.0%}",
                ]
            )
    print()
    common.print_table(headers, rows)
    print()
    summary = []
    for number, figures in enumerate(results["rounds"], start=1):
        real, bare = figures["sensor_input"], figures["bare"]
        ratio = real["requests_per_s"] / bare["requests_per_s"]
        cpu_ratio = (bare["cpu"]["server_cpu_s"] + bare["cpu"]["postgres_cpu_s"]) / max(
            1, bare["completed"]
        )
        cpu_ratio /= max(
            1e-9,
            (real["cpu"]["server_cpu_s"] + real["cpu"]["postgres_cpu_s"])
            / max(1, real["completed"]),
        )
        p99 = real["latency_ms"]["p99"]
        verdict = [
            f"{'ok ' if real['requests_per_s'] >= TARGET_RPS else 'MISS'} >= {TARGET_RPS} req/s",
            f"{'ok ' if p99 < TARGET_P99_MS else 'MISS'} p99 < {TARGET_P99_MS} ms",
            f"{'ok ' if ratio >= TARGET_RATIO else 'MISS'} ratio >= {TARGET_RATIO}",
        ]
        line = (
            f"round {number}: sensor_input {real['requests_per_s']:.0f} req/s "
            f"p99 {p99:.1f} ms; bare {bare['requests_per_s']:.0f} req/s "
            f"p99 {bare['latency_ms']['p99']:.1f} ms; ratio {ratio:.3f} "
            f"(server+db CPU per request: bare/sensor_input {cpu_ratio:.3f}); "
            f"stored == 2xx: {real['stored_matches_2xx']} / {bare['stored_matches_2xx']}"
        )
        print(line)
        if "noop" in figures:
            floor = figures["noop"]
            print(
                f"  floor (server + Django, no database): {floor['requests_per_s']:.0f} req/s, "
                f"p99 {floor['latency_ms']['p99']:.1f} ms; sensor_input/floor "
                f"{real['requests_per_s'] / floor['requests_per_s']:.3f}, bare/floor "
                f"{bare['requests_per_s'] / floor['requests_per_s']:.3f}"
            )
        print("  targets: " + ", ".join(verdict))
        summary.append({"ratio": round(ratio, 4), "cpu_ratio": round(cpu_ratio, 4)})
        figures["summary"] = summary[-1]
    print(f"server log lines with errors: {results['server'].get('log_problem_lines')}")


if __name__ == "__main__":
    raise SystemExit(main())
