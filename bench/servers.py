"""Choosing the web server: the candidates measured side by side, in one run, on one database.

    python bench/servers.py [--servers granian,gunicorn,waitress] [--seconds 15]
        [--connections 64] [--slow 50] [--idle 10000] [--no-conformance]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_servers]

For each server, started as its configuration says (granian: `python -m energyleaf.server`, the
production server; gunicorn: gthread workers with bench/gunicorn.conf.py, the server before it;
waitress: one process with a thread pool that buffers whole requests):

1. throughput: `/api/v1/sensor_input`, `/bench/bare` (1 SELECT + 1 INSERT) and `/bench/noop` (no
   database) with `--connections` kept-alive wrk connections, one sensor each (bench/sensor_input.py
   does the phases: req/s, p99, stored == 2xx, CPU per request);
2. slow clients: `sensor_input` again while `--slow` connections misbehave: half send their
   request header one byte a second and never finish it, half send a whole header and 10 of the
   64 body bytes it announces, then stall; a connection the server closes is reopened. Reported:
   req/s with them / req/s without (target: less than 20 % lost);
3. idle connections: `--idle` connections each make one request and then stay open and idle
   while `sensor_input` is loaded again; afterwards each sends one more request. Reported: how many
   were accepted, how many still answered, the server's resident memory per idle connection and
   req/s with them held;
4. graceful restart: `sensor_input` loaded while the master gets SIGHUP (new workers replace
   the old ones); reported: failed requests (non-2xx and socket errors) and stored == 2xx;
   waitress has no restart without dropping its socket (not measured);
5. memory: resident memory of master and workers after start and after the load;
6. conformance: the end-to-end sensor tests (sensors/tests/e2e: the Tasmota and Raspberry Pi
   clients' wire behaviour, chunked single chunk, keep-alive, status codes) run against the
   server (`ENERGYLEAF_E2E_SERVER`), pass/fail counts.

Prints one table, writes bench/results/servers-<time>.json. Needs wrk (`apt-get install -y wrk`)
and an open-files limit above --idle + 1000 (`ulimit -n`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench import sensor_input as si  # noqa: E402
from bench.loadgen import ResponseParser, reading_body  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench_servers"
SLOW_CLIENT_TARGET = 0.8  # throughput with slow clients / without
STALLED_BODY_LENGTH = 64


class Background:
    """An asyncio loop in a thread: slow and idle clients run there while wrk loads the server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def request_bytes(port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, timeout: float
) -> int:
    """Send one request on an open connection and read its whole answer; the status."""
    writer.write(data)
    await writer.drain()
    parser = ResponseParser()
    deadline = time.monotonic() + timeout
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
        if not chunk:
            raise ConnectionResetError("closed by the server")
        if parser.feed(chunk) is not None:
            return parser.status


class SlowClients:
    """`count` misbehaving connections until stopped; counts how often the server closed one."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.stop = asyncio.Event()
        self.closed_by_server = 0
        self.opened = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A new connection, counted; None (after a pause) when the server refuses it."""
        try:
            pair = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            await asyncio.sleep(0.5)
            return None
        self.opened += 1
        return pair

    async def _trickle(self) -> None:
        header = (
            f"POST /api/v1/sensor_input HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Content-Type: application/x-protobuf\r\nContent-Length: 64\r\nX-Slow: "
        ).encode() + b"a" * 4000
        while not self.stop.is_set():
            if (pair := await self._connect()) is None:
                continue
            reader, writer = pair
            try:
                for byte in header:
                    if self.stop.is_set() or reader.at_eof():
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), 1.0)
                    if reader.at_eof() or writer.is_closing():
                        break
                else:
                    continue
                if not self.stop.is_set():
                    self.closed_by_server += 1
            except OSError:
                self.closed_by_server += 1
            finally:
                writer.close()

    async def _stall(self) -> None:
        head = (
            f"POST /api/v1/sensor_input HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/x-protobuf\r\nContent-Length: {STALLED_BODY_LENGTH}\r\n\r\n"
        ).encode() + b"\x0a\x08stalled!"
        while not self.stop.is_set():
            if (pair := await self._connect()) is None:
                continue
            reader, writer = pair
            try:
                writer.write(head)
                await writer.drain()
                stop = asyncio.ensure_future(self.stop.wait())
                closed = asyncio.ensure_future(reader.read())
                await asyncio.wait({stop, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not stop.done():
                    self.closed_by_server += 1
                    await asyncio.sleep(0.2)
                stop.cancel()
                closed.cancel()
            except OSError:
                self.closed_by_server += 1
            finally:
                writer.close()

    async def run(self) -> None:
        tasks = [self._trickle() for _ in range(self.count // 2)]
        tasks += [self._stall() for _ in range(self.count - self.count // 2)]
        await asyncio.gather(*tasks, return_exceptions=True)


class IdleConnections:
    """Connections that made one request to /bench/noop and are then kept open and idle."""

    def __init__(self, port: int, body: bytes) -> None:
        self.port = port
        self.data = request_bytes(port, "/bench/noop", body)
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.refused = 0

    async def _open_one(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 30
                )
                status = await exchange(reader, writer, self.data, 30)
            except (OSError, TimeoutError):
                self.refused += 1
                return
            if status == 200:
                self.connections.append((reader, writer))
            else:
                self.refused += 1
                writer.close()

    async def open(self, count: int) -> None:
        gate = asyncio.Semaphore(200)
        await asyncio.gather(*(self._open_one(gate) for _ in range(count)))

    async def _again(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            return await exchange(reader, writer, self.data, 60) == 200
        except (OSError, TimeoutError):
            return False

    async def still_answering(self) -> int:
        gate = asyncio.Semaphore(200)

        async def one(pair: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bool:
            async with gate:
                return await self._again(*pair)

        results = await asyncio.gather(*(one(pair) for pair in self.connections))
        return sum(results)

    async def close(self) -> None:
        for _, writer in self.connections:
            writer.close()
        self.connections.clear()


def raise_open_files_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted)) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def measure(
    args: argparse.Namespace, server: common.WebServer, group: si.Group, workdir: Path
) -> dict[str, Any]:
    return si.phase(args, server, group, args.seconds, workdir, "wrk")


def summary(phase: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests_per_s": round(phase["requests_per_s"], 1),
        "p99_ms": round(phase["latency_ms"]["p99"], 1),
        "failed": phase["non2xx"] + phase["socket_errors"],
        "stored_matches_2xx": phase["stored_matches_2xx"],
        "cpu_ms_per_request": phase["cpu_ms_per_request"],
    }


def restart_phase(
    args: argparse.Namespace, server: common.WebServer, group: si.Group, workdir: Path
) -> dict[str, Any]:
    """sensor_input under load while the master is told to replace its workers (SIGHUP)."""
    assert server.process is not None
    before = server.worker_pids()
    timer = threading.Timer(args.seconds / 3, server.process.send_signal, (signal.SIGHUP,))
    timer.start()
    try:
        result = measure(args, server, group, workdir)
    finally:
        timer.cancel()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = server.worker_pids()
        if len(after) >= server.expected_workers() and not set(after) & set(before):
            break
        time.sleep(0.5)
    after = server.worker_pids()
    return {
        **summary(result),
        "workers_replaced": not set(after) & set(before),
        "master_alive": server.process.poll() is None,
    }


def conformance(kind: str) -> dict[str, Any]:
    """The end-to-end sensor tests against this server (SQLite test database)."""
    with tempfile.TemporaryDirectory(prefix="energyleaf-bench-e2e-") as var:
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
        env.pop("DATABASE_URL", None)
        env.update({"ENERGYLEAF_E2E_SERVER": kind, "ENERGYLEAF_VAR_DIR": var})
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "sensors/tests/e2e", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    pattern = r"(\d+) (passed|failed|error|skipped)"
    counts = {word: int(number) for number, word in re.findall(pattern, tail)}
    return {
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0),
        "skipped": counts.get("skipped", 0),
        "seconds": round(time.monotonic() - started, 1),
        "summary": tail,
    }


def run_server(
    args: argparse.Namespace,
    kind: str,
    groups: dict[str, si.Group],
    workdir: Path,
    background: Background,
) -> dict[str, Any]:
    server = common.WebServer(args.database_url, kind=kind)
    out: dict[str, Any] = {"kind": kind}
    try:
        server.start()
        out["processes"] = 1 + len(server.worker_pids())
        out["memory_mib_at_start"] = round(server.memory_kib() / 1024, 1)
        real, bare, noop = groups["sensor_input"], groups["bare"], groups["noop"]
        if not real.tokens:
            real.tokens = common.fetch_tokens(server.port, real.macs)
            bare.tokens = noop.tokens = common.fetch_tokens(server.port, bare.macs)
            si.check_body_encoding(real.tokens[0])
        for group in (real, bare, noop):  # warm-up: every worker connects and imports
            si.phase(args, server, group, 3, workdir, "wrk")
        for group in (real, bare, noop):
            common.log(f"{kind}: {group.name} for {args.seconds:.0f} s")
            out[group.name] = summary(measure(args, server, group, workdir))
        out["ratio_to_bare"] = round(
            out["sensor_input"]["requests_per_s"] / out["bare"]["requests_per_s"], 3
        )
        out["memory_mib_after_load"] = round(server.memory_kib() / 1024, 1)

        if args.slow:
            common.log(f"{kind}: sensor_input with {args.slow} slow clients")
            slow = SlowClients(server.port, args.slow)
            slow_future = background.start(slow.run())
            time.sleep(3)  # every slow client connected and started misbehaving
            phase = summary(measure(args, server, real, workdir))
            background.loop.call_soon_threadsafe(slow.stop.set)
            slow_future.result(30)
            phase["slow_connections_opened"] = slow.opened
            phase["slow_connections_closed_by_server"] = slow.closed_by_server
            phase["ratio_to_without"] = round(
                phase["requests_per_s"] / out["sensor_input"]["requests_per_s"], 3
            )
            out["slow_clients"] = phase

        if args.idle:
            common.log(f"{kind}: {args.idle} idle kept-alive connections")
            body = reading_body(
                noop.tokens[0].encode(),
                0,
                base_ms=noop.base_ms,
                step_ms=si.STEP_MS,
                value0=si.VALUE0,
                value_step=si.VALUE_STEP,
            )
            idle = IdleConnections(server.port, body)
            memory_before = server.memory_kib()
            started = time.monotonic()
            background.run(idle.open(args.idle), timeout=600)
            opened = len(idle.connections)
            open_seconds = time.monotonic() - started
            time.sleep(2)
            memory_with = server.memory_kib()
            phase = summary(measure(args, server, real, workdir))
            answering = background.run(idle.still_answering(), timeout=600)
            background.run(idle.close(), timeout=60)
            phase.update(
                {
                    "wanted": args.idle,
                    "accepted": opened,
                    "refused_or_failed": idle.refused,
                    "seconds_to_open": round(open_seconds, 1),
                    "still_answering_after": answering,
                    "memory_kib_per_idle_connection": round(
                        (memory_with - memory_before) / max(1, opened), 1
                    ),
                    "ratio_to_without": round(
                        phase["requests_per_s"] / out["sensor_input"]["requests_per_s"], 3
                    ),
                }
            )
            out["idle"] = phase

        if kind == "waitress":
            out["restart"] = None
        else:
            common.log(f"{kind}: sensor_input while the workers are replaced (SIGHUP)")
            out["restart"] = restart_phase(args, server, real, workdir)
        out["memory_mib_at_end"] = round(server.memory_kib() / 1024, 1)
        out["log_problem_lines"] = server.log_problems()
    finally:
        server.stop()
    if args.conformance:
        common.log(f"{kind}: end-to-end sensor tests")
        out["conformance"] = conformance(kind)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(common.SERVER_KINDS))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--no-conformance", dest="conformance", action="store_false")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if unknown := set(kinds) - set(common.SERVER_KINDS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    limit = raise_open_files_limit(args.idle + 1000)
    if limit < args.idle + 200:
        raise SystemExit(f"open-files limit {limit} is too low for --idle {args.idle}")
    args.client_processes = 1  # used by sensor_input.phase for the python client only

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    now = datetime.now(tz=UTC)
    # Each server gets fresh meter time: the sensors' readings continue where the last run ended.
    real = si.Group(
        "sensor_input", "/api/v1/sensor_input", common.register_households(1, args.connections)
    )
    bare_sensors = common.register_households(2, args.connections)
    groups = {
        "sensor_input": real,
        "bare": si.Group("bare", "/bench/bare", bare_sensors),
        "noop": si.Group("noop", "/bench/noop", bare_sensors, stores=False),
    }
    base_ms = int((now - timedelta(days=60)).timestamp()) * 1000
    for group in groups.values():
        group.base_ms = base_ms
    common.close_django_connections()
    results: dict[str, Any] = {
        "benchmark": "servers",
        "started_at": now.isoformat(),
        "revision": common.git_revision(),
        "machine": common.machine_description(),
        "parameters": {k: v for k, v in vars(args).items() if k != "client_processes"},
        "servers": [],
    }
    background = Background()
    try:
        with tempfile.TemporaryDirectory(prefix="energyleaf-bench-") as tmp:
            for kind in kinds:
                results["servers"].append(run_server(args, kind, groups, Path(tmp), background))
    finally:
        background.close()
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    report(results)
    path = common.write_result("servers", results)
    common.log(f"results written to {path.relative_to(ROOT)}")
    return 0


def _cell(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def report(results: dict[str, Any]) -> None:
    rows = []
    for s in results["servers"]:
        real, bare, noop = s["sensor_input"], s["bare"], s["noop"]
        slow, idle, restart, e2e = (
            s.get("slow_clients"),
            s.get("idle"),
            s.get("restart"),
            s.get("conformance"),
        )
        rows.append(
            [
                s["kind"],
                f"{real['requests_per_s']:.0f}",
                f"{real['p99_ms']:.0f}",
                f"{bare['requests_per_s']:.0f}",
                f"{noop['requests_per_s']:.0f}",
                f"{s['ratio_to_bare']:.2f}",
                _cell(slow and slow["ratio_to_without"], "{:.2f}"),
                _cell(idle and f"{idle['accepted']}/{idle['still_answering_after']}"),
                _cell(idle and idle["memory_kib_per_idle_connection"], "{:.1f}"),
                _cell(idle and idle["ratio_to_without"], "{:.2f}"),
                _cell(restart and restart["failed"]),
                f"{s['memory_mib_after_load']:.0f}",
                _cell(e2e and f"{e2e['passed']}/{e2e['passed'] + e2e['failed']}"),
                f"{real['cpu_ms_per_request']['server']:.2f}",
            ]
        )
    print()
    common.print_table(
        [
            "server",
            "sensor req/s",
            "p99 ms",
            "bare req/s",
            "noop req/s",
            "sensor/bare",
            "slow: req/s ratio",
            "idle accepted/answering",
            "KiB/idle",
            "idle: req/s ratio",
            "restart failed",
            "RSS MiB",
            "e2e pass",
            "srv ms/req",
        ],
        rows,
    )
    print(
        f"targets: slow clients ratio >= {SLOW_CLIENT_TARGET}; sensor_input >= {si.TARGET_RPS} "
        f"req/s, p99 < {si.TARGET_P99_MS} ms, >= {si.TARGET_RATIO} x bare"
    )


if __name__ == "__main__":
    raise SystemExit(main())
