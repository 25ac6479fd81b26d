"""Shared machinery of the benchmarks: database, sensors, the web server, CPU accounting, results.

Only the standard library, Django and psycopg (both in the project's requirements). Every wait is
bounded; the only processes stopped are the ones started here, by their id.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench"
PROTOBUF = "application/x-protobuf"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_SECRET_KEY = "bench-only-secret-key-not-used-anywhere-else-0123456789abcdefghijk"  # noqa: S105


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- environment and database -------------------------------------------------------------------


def server_environment(database_url: str) -> dict[str, str]:
    """Variables for this process and for the web server: production settings, loopback only."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": BENCH_SECRET_KEY,
        "DJANGO_DEBUG": "false",
        "CELERY_BROKER_URL": "memory://",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_READ_DOT_ENV_FILE": "false",
    }


def database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def reset_database(database_url: str) -> None:
    """Drop and create the benchmark database (its name must contain `bench`)."""
    import psycopg
    from psycopg import sql

    name = database_name(database_url)
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    parts = urlsplit(database_url)
    maintenance = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    log(f"database {name} dropped and created")


def django_setup(database_url: str) -> None:
    """Configure this process like the server and migrate the (fresh) database."""
    os.environ.update(server_environment(database_url))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    log(f"migrated in {time.perf_counter() - started:.1f} s")


def register_households(group: int, count: int) -> list[tuple[int, str]]:
    """`count` household users with one assigned electricity sensor each, through the services.

    `group` (0..255) keeps the e-mail addresses and MACs of several groups apart. Returns
    (sensor id, MAC) pairs.
    """
    from energyleaf.users.services import user_create
    from sensors.services import sensor_register

    sensors = []
    for number in range(count):
        user = user_create(email=f"household-{group}-{number}@bench.invalid")
        mac = f"BE:{group:02X}:00:00:{number // 256:02X}:{number % 256:02X}"
        sensor = sensor_register(client_id=mac, user=user)
        sensors.append((sensor.pk, mac))
    return sensors


def close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def readings_count(sensor_ids: Sequence[int]) -> int:
    from sensors.models import Reading

    close_django_connections()  # never hold a connection (or a snapshot) across phases
    return Reading.objects.filter(sensor_id__in=list(sensor_ids)).count()


def settled_readings_count(sensor_ids: Sequence[int], timeout: float = 15.0) -> int:
    """The count once it stops changing: requests abandoned by a client may still be running."""
    deadline = time.monotonic() + timeout
    last = readings_count(sensor_ids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = readings_count(sensor_ids)
        if current == last:
            return current
        last = current
    return last


# --- web server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_post(
    port: int, path: str, body: bytes, content_type: str = PROTOBUF, timeout: float = 60.0
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


SERVER_KINDS = ("gunicorn", "gthread", "granian", "waitress")


def server_command(
    kind: str, port: int, workers: int | None = None, threads: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """Command line and variables of a web server serving the project on 127.0.0.1:`port`.

    `gunicorn`: the repository's gunicorn.conf.py as in production (gevent workers, a database
    pool); `gthread`: the same file with the thread-per-request workers used before; `granian`:
    granian's WSGI server (Rust HTTP layer, 2 workers, 8 blocking threads each, each holding a
    database connection; up to 20 000 requests admitted per worker); `waitress`: one process with
    a thread pool. `workers`/`threads` override the configured counts.
    """
    bind = f"127.0.0.1:{port}"
    app = "energyleaf.wsgi:application"
    if kind in ("gunicorn", "gthread"):
        env = {"GUNICORN_BIND": bind, "GUNICORN_LOGLEVEL": "warning"}
        env["GUNICORN_ACCESSLOG"] = "/dev/null"  # formatted as in production, written nowhere
        if kind == "gthread":
            env["GUNICORN_WORKER_CLASS"] = "gthread"
        if workers:
            env["GUNICORN_WORKERS"] = str(workers)
        if threads:
            env["GUNICORN_THREADS"] = str(threads)
        config = str(ROOT / "gunicorn.conf.py")
        return [sys.executable, "-m", "gunicorn", "-c", config, app], env
    if kind == "granian":
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1", "--no-ws",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers or 2),
            "--blocking-threads", str(threads or 8), "--backpressure", "20000",
            "--log-level", "warning", app,
        ]  # fmt: skip
        return command, {}
    if kind == "waitress":
        command = [
            sys.executable, "-m", "waitress", f"--listen={bind}", f"--threads={threads or 16}",
            "--connection-limit=20000", "--channel-timeout=120", app,
        ]  # fmt: skip
        return command, {}
    raise ValueError(f"unknown server kind {kind!r} (one of {', '.join(SERVER_KINDS)})")


@dataclass
class WebServer:
    """A web server serving the project on a free loopback port (`server_command`)."""

    database_url: str
    kind: str = "gunicorn"
    workers: int | None = None
    threads: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def expected_workers(self) -> int:
        """Worker processes the server starts under its master (0: it serves in one process)."""
        if self.kind == "waitress":
            return 0
        if self.workers:
            return self.workers
        if self.kind == "granian":
            return 2
        cores = os.cpu_count() or 1
        default = cores if self.kind == "gunicorn" else 2 * cores + 1
        return int(os.environ.get("GUNICORN_WORKERS", str(default)))

    def start(self, ready_timeout: float = 60.0) -> None:
        self.port = free_port()
        command, server_env = server_command(self.kind, self.port, self.workers, self.threads)
        env = dict(os.environ)
        env.update(server_environment(self.database_url))
        env["PYTHONPATH"] = str(ROOT)
        env.update(server_env)
        env.update(self.extra_env)
        handle, name = tempfile.mkstemp(prefix=f"energyleaf-bench-{self.kind}-", suffix=".log")
        self.log_path = Path(name)
        self.process = subprocess.Popen(  # noqa: S603 - fixed command line
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
        os.close(handle)
        self._wait_ready(ready_timeout)
        log(
            f"{self.kind} pid {self.process.pid} on 127.0.0.1:{self.port}, "
            f"{len(self.worker_pids())} worker processes (log {self.log_path})"
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log_tail()}")
            try:
                status, _, _ = http_post(self.port, "/api/v1/sensor_input", b"", timeout=5)
            except OSError:
                time.sleep(0.2)
                continue
            if status in (400, 401) and len(self.worker_pids()) >= self.expected_workers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []

    def memory_kib(self) -> int:
        """Resident memory of the server: master and worker processes (RSS, KiB)."""
        if self.process is None:
            return 0
        total = 0
        for pid in [self.process.pid, *self.worker_pids()]:
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_problems(self) -> int:
        """Lines in the server log that report an error or a traceback."""
        if self.log_path is None or not self.log_path.exists():
            return 0
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line)

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM to the master (graceful), then SIGKILL to it and its workers if needed."""
        if self.process is None:
            return
        workers = self.worker_pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in workers:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        log(f"{self.kind} stopped (exit {self.process.returncode})")


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


# --- CPU accounting (from /proc) ------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(command, parent pid, utime+stime in clock ticks) of a process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def _all_pids() -> Iterable[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def children_of(parent: int) -> list[int]:
    pids = []
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[1] == parent:
            pids.append(pid)
    return sorted(pids)


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


@dataclass
class CpuSnapshot:
    at: float
    busy: int
    total: int
    server: dict[int, int]
    postgres: dict[int, int]


def cpu_snapshot(server: WebServer) -> CpuSnapshot:
    busy, total = machine_busy_ticks()
    ours = {}
    postgres = {}
    master = server.process.pid if server.process else -1
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is None:
            continue
        name, parent, ticks = stat
        if pid == master or parent == master:
            ours[pid] = ticks
        elif name == "postgres":
            postgres[pid] = ticks
    return CpuSnapshot(time.monotonic(), busy, total, ours, postgres)


def cpu_between(before: CpuSnapshot, after: CpuSnapshot, client_seconds: float) -> dict[str, Any]:
    """CPU seconds used between two snapshots: machine, the web server (per process), PostgreSQL,
    the load generator and everything else (other work on the machine)."""

    def used(a: dict[int, int], b: dict[int, int]) -> dict[int, float]:
        return {pid: (ticks - a.get(pid, 0)) / CLK_TCK for pid, ticks in b.items()}

    wall = after.at - before.at
    machine = (after.busy - before.busy) / CLK_TCK
    server = used(before.server, after.server)
    database = sum(used(before.postgres, after.postgres).values())
    server_total = sum(server.values())
    return {
        "wall_s": round(wall, 3),
        "cores": os.cpu_count(),
        "machine_cpu_s": round(machine, 2),
        "machine_utilisation": round(machine / (wall * (os.cpu_count() or 1)), 3) if wall else 0,
        "server_cpu_s": round(server_total, 2),
        "server_worker_cpu_s": sorted((round(v, 2) for v in server.values()), reverse=True),
        "server_workers_restarted": sorted(set(before.server) ^ set(after.server)) != [],
        "postgres_cpu_s": round(database, 2),
        "client_cpu_s": round(client_seconds, 2),
        "other_cpu_s": round(max(0.0, machine - server_total - database - client_seconds), 2),
    }


def children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- figures --------------------------------------------------------------------------------------


def merged_statuses(parts: Iterable[dict[str, Any]]) -> Counter[str]:
    """The answers' status counts of several client processes together."""
    statuses: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["statuses"])
    return statuses


def ok_count(statuses: dict[str, int]) -> int:
    """How many answers were 2xx, from status counts keyed by the status as text."""
    return sum(count for status, count in statuses.items() if 200 <= int(status) < 300)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def machine_description() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "python_loop_s": python_loop_seconds(),
    }


def python_loop_seconds() -> float:
    """Seconds of CPU for a fixed pure-Python loop (10 million additions), best of three.

    Machines here report the same model name ("AMD EPYC") without running at the same speed
    (bench/README.md, "The fleet"); this figure, taken with every result, tells the results of
    different machines apart.
    """
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.process_time() - started)
    return round(best, 3)


def git_revision() -> str:
    """The commit measured, with "+dirty" when tracked files differ from it."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - read-only query
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--"],  # noqa: S607 - read-only query
            cwd=ROOT,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # "+dirty": tracked files differ from the commit (the run measured the working tree)
    return result.stdout.strip() + ("+dirty" if dirty.returncode == 1 else "")


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    text_rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def render(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs)

    line = render(list(headers))
    print(line)
    print("-" * len(line))
    for row in text_rows:
        print(render(row))


# --- sensor tokens ----------------------------------------------------------------------------


def fetch_tokens(port: int, macs: Sequence[str]) -> list[str]:
    """One token per sensor from the real `/api/v1/token` endpoint."""
    from sensors.protobuf import energyleaf_pb2 as pb
    from sensors.protobuf import mapping

    tokens = []
    for mac in macs:
        body = mapping.encode_token_request(
            mapping.TokenRequestData(client_id=mac, sensor_type=1, need_script=False)
        )
        status, _, answer = http_post(port, "/api/v1/token", body)
        message = pb.TokenResponse()
        message.ParseFromString(answer)
        if status != 200 or not message.access_token:
            raise RuntimeError(f"/api/v1/token for {mac}: HTTP {status} {message.status_message!r}")
        tokens.append(message.access_token)
    return tokens
