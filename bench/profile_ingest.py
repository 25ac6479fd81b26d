"""Where a sensor request's time goes: in-process, one thread, no HTTP server.

    python bench/profile_ingest.py [--requests 1000] [--batch 10000] [--top 25]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench]

Drops and creates the benchmark database (name must contain "bench"), registers sensors through
the services and then calls Django's WSGI handler directly (what a gunicorn worker thread does
after parsing HTTP) for `/api/v1/sensor_input` and for the bare view of bench/views.py. Prints,
per request: wall time, time inside SQL, the queries (counted with an execute wrapper; Django's
CONN_HEALTH_CHECKS "SELECT 1" bypasses it and is counted separately), and the top functions
of a cProfile run timed in thread CPU time (waits for PostgreSQL cost nothing there, so the
profile shows where this process spends CPU, which is what limits throughput on 2 cores).
With --batch N it also times one N-reading protobuf batch through the batch path (columns
decode, `sensor_batch_ingest`, answer), split into its steps.
Diagnostics only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.loadgen import reading_body  # noqa: E402

STEP_MS = 15_000


class QueryLog:
    """Counts queries and the wall time spent in them (Django execute wrapper)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.shapes: Counter[str] = Counter()
        self.health_checks = 0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1
            self.shapes[" ".join(sql.split())[:110]] += 1


def wsgi_post(application: Any, path: str, body: bytes) -> int:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/x-protobuf",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(int(line.split(" ", 1)[0]))

    result = application(environ, start_response)
    try:
        for _ in result:
            pass
    finally:
        result.close()
    return status[0]


class Endpoint:
    def __init__(self, path: str, token: str, base_ms: int) -> None:
        self.path = path
        self.token = token.encode()
        self.base_ms = base_ms
        self.index = 0

    def body(self) -> bytes:
        self.index += 1
        return reading_body(
            self.token, self.index, base_ms=self.base_ms, step_ms=STEP_MS, value0=1000.0,
            value_step=0.002,
        )  # fmt: skip


def measure(application: Any, endpoint: Endpoint, requests: int) -> dict[str, Any]:
    from django.db import connection

    log = QueryLog()
    original = connection.is_usable

    def counted_is_usable() -> bool:
        log.health_checks += 1
        return original()

    connection.is_usable = counted_is_usable  # type: ignore[method-assign]
    statuses: Counter[int] = Counter()
    try:
        with connection.execute_wrapper(log):
            started = time.perf_counter()
            cpu = time.process_time()
            for _ in range(requests):
                statuses[wsgi_post(application, endpoint.path, endpoint.body())] += 1
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - started
    finally:
        del connection.is_usable
    return {
        "statuses": dict(statuses),
        "wall_us": wall / requests * 1e6,
        "cpu_us": cpu / requests * 1e6,
        "sql_wall_us": log.seconds / requests * 1e6,
        "queries": log.count / requests,
        "health_checks": log.health_checks / requests,
        "shapes": {shape: count / requests for shape, count in log.shapes.most_common()},
    }


# (path suffix, function) of the steps worth naming; cumulative CPU, outermost calls only.
COMPONENTS = (
    ("django/core/handlers/wsgi.py", "__call__", "whole request (WSGI handler)"),
    ("rest_framework/views.py", "dispatch", "DRF APIView.dispatch"),
    ("rest_framework/request.py", "_parse", "DRF body parsing (decode included)"),
    ("sensors/protobuf/mapping.py", "decode_sensor_input", "protobuf decode"),
    ("sensors/services/ingestion.py", "sensor_readings_ingest", "service sensor_readings_ingest"),
    ("sensors/services/tokens.py", "sensor_token_authenticate", "  token + sensor lock SELECT"),
    ("sensors/services/ingestion.py", "_stored_around", "  stored-around raw SELECT"),
    ("sensors/compute/planning.py", "plan_ingestion", "  plan_ingestion (pure Python)"),
    ("sensors/services/ingestion.py", "_write", "  _write (bulk_create of 1 row)"),
    ("django/db/transaction.py", "__exit__", "  transaction exit (COMMIT)"),
    ("sensors/protobuf/mapping.py", "encode_sensor_data_response", "protobuf encode"),
    ("bench/views.py", "bare_sensor_input", "bare view"),
    ("django/db/models/query.py", "first", "  ORM .first() (SELECT)"),
    ("django/db/models/query.py", "create", "  ORM .create() (INSERT)"),
    ("django/db/backends/postgresql/base.py", "is_usable", "health check SELECT 1"),
    ("django/db/models/sql/compiler.py", "as_sql", "ORM SQL compilation (all queries)"),
    ("psycopg/cursor.py", "execute", "psycopg execute (send + wait)"),
)


def component_split(profiler: cProfile.Profile, requests: int) -> str:
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    lines = []
    for suffix, name, label in COMPONENTS:
        total = sum(
            value[3]
            for (path, _, function), value in stats.items()
            if function == name and path.endswith(suffix)
        )
        if total:
            lines.append(f"  {label:<40} {total / requests * 1e6:8.0f} us CPU/request")
    return "\n".join(lines)


def profile(application: Any, endpoint: Endpoint, requests: int, top: int) -> str:
    profiler = cProfile.Profile(time.thread_time)
    bodies = [endpoint.body() for _ in range(requests)]
    profiler.enable()
    for body in bodies:
        wsgi_post(application, endpoint.path, body)
    profiler.disable()
    out = io.StringIO()
    out.write("CPU by step (cProfile overhead included, so compare shares, not absolutes):\n")
    out.write(component_split(profiler, requests) + "\n\n")
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top + 15)
    return out.getvalue()


def batch_request(token: str, size: int, base_ms: int, first: int = 0) -> bytes:
    """`size` readings 15 s apart from `base_ms`, the register continuing from reading `first`."""
    from sensors.protobuf import mapping

    return mapping.encode_batch(
        mapping.BatchData(
            access_token=token,
            sensor_type=1,
            readings=tuple(
                mapping.BatchReadingData(
                    value=2000.0 + k * 0.002,
                    value_current=float(480 + k % 40),
                    value_out=None,
                    timestamp_raw=base_ms + k * STEP_MS,
                )
                for k in range(first, first + size)
            ),
        )
    )


def batch_steps(token: str, size: int, base_ms: int, top: int) -> None:
    """One batch through the batch path's steps: columns decode, the service (its steps timed),
    the answer encoder (what BatchInputView does for protobuf)."""
    from sensors.compute import planning
    from sensors.protobuf import mapping
    from sensors.services import ReadingBatch, batch, sensor_batch_ingest

    body = batch_request(token, size, base_ms)
    timings: dict[str, float] = Counter()

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - started

        return wrapper

    patches = {
        (batch, "sensor_token_authenticate"): None,
        (batch, "_newest_stored"): None,
        (planning, "plan_columns"): None,
        (batch, "_insert_plan"): None,
        (batch, "sensor_readings_ingest"): None,
    }
    for module, name in patches:
        patches[module, name] = getattr(module, name)
        setattr(module, name, timed(name, getattr(module, name)))
    try:
        from django.db import connection

        for label in ("new", "re-sent (duplicates)", "new, cProfile on"):
            if label == "new, cProfile on":  # the next readings of the same meter
                body = batch_request(token, size, base_ms, first=size)
            timings.clear()
            queries = QueryLog()
            started = time.perf_counter()
            data = mapping.decode_batch_columns(body)
            decoded = time.perf_counter()
            profiler = cProfile.Profile(time.thread_time) if "cProfile" in label else None
            if profiler:
                profiler.enable()
            service_started = time.perf_counter()
            with connection.execute_wrapper(queries):
                result = sensor_batch_ingest(
                    token=token,
                    batch=ReadingBatch(
                        value=data.value,
                        value_current=data.value_current,
                        has_current=data.has_current,
                        value_out=data.value_out,
                        has_out=data.has_out,
                        timestamp=data.timestamp,
                    ),
                )
            service = time.perf_counter() - service_started
            if profiler:
                profiler.disable()
            encode_started = time.perf_counter()
            mapping.encode_batch_response_compact(
                200,
                count=result.count,
                accepted=result.accepted,
                duplicates=result.duplicates,
                rejected=result.rejected,
                exceptions=result.exceptions,
                default=result.default,
            )
            encoded = time.perf_counter() - encode_started
            total = time.perf_counter() - started
            print(
                f"\nbatch of {size}, {label}: accepted {result.accepted}, duplicates "
                f"{result.duplicates}, rejected {result.rejected}, vectorised {result.vectorised}; "
                f"total {total * 1000:.0f} ms = {size / total:,.0f} readings/s (in-process, "
                f"cProfile on: {bool(profiler)})"
            )
            print(f"  decode {1000 * (decoded - started):.0f} ms, service {service * 1000:.0f} ms"
                  f", answer encode {encoded * 1000:.0f} ms; {queries.count} queries, "
                  f"{queries.seconds * 1000:.0f} ms in SQL (commit not included)")  # fmt: skip
            for name, seconds in timings.items():
                print(f"    {name}: {seconds * 1000:.0f} ms")
            if profiler:
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out).strip_dirs()
                stats.sort_stats("tottime").print_stats(top)
                stats.sort_stats("cumulative").print_stats(top)
                print(out.getvalue())
    finally:
        for (module, name), function in patches.items():
            setattr(module, name, function)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10000, help="0: skip the batch part")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--database-url", default=common.DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    from django.core.wsgi import get_wsgi_application

    from sensors.services import sensor_token_issue

    sensors = common.register_households(3, 3)
    tokens = [
        sensor_token_issue(client_id=mac, need_script=False).access_token for _, mac in sensors
    ]
    base_ms = int((datetime.now(tz=UTC) - timedelta(days=30)).timestamp()) * 1000
    application = get_wsgi_application()
    real = Endpoint("/api/v1/sensor_input", tokens[0], base_ms)
    bare = Endpoint("/bench/bare", tokens[1], base_ms)

    for endpoint in (real, bare):
        measure(application, endpoint, 200)  # warm-up
    print("\nper request, in-process, one thread (no HTTP):")
    for name, endpoint in (("sensor_input", real), ("bare", bare)):
        figures = measure(application, endpoint, args.requests)
        print(
            f"  {name}: {figures['wall_us']:.0f} us wall, {figures['cpu_us']:.0f} us CPU, "
            f"{figures['sql_wall_us']:.0f} us in SQL; {figures['queries']:.2f} queries "
            f"+ {figures['health_checks']:.2f} health-check SELECT 1; statuses "
            f"{figures['statuses']}"
        )
        for shape, count in figures["shapes"].items():
            print(f"      {count:.2f} x {shape}")
    for name, endpoint in (("sensor_input", real), ("bare", bare)):
        print(f"\n===== cProfile {name}, {args.requests} requests =====")
        print(profile(application, endpoint, args.requests, args.top))
    if args.batch:
        batch_steps(tokens[2], args.batch, base_ms, args.top)
    common.close_django_connections()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
