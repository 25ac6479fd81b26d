"""End-to-end fault suite: prove that under load and faults no accepted reading is lost or doubled
and every task result exists exactly once.

    .venv/bin/python bench/faults/run.py [--quick] [--scenario NAME ...] [--keep]
                                         [--results-dir DIR]

Starts, in one temporary directory and on free loopback ports, its own PostgreSQL 15 cluster
(initdb, trust auth, fsync on; as the `postgres` user when run as root) and its own redis-server
(no persistence), migrates a fresh database, then gunicorn with the repository's
`gunicorn.conf.py` (2 workers), a Celery worker (prefork, 2 processes) and Celery beat
(django-celery-beat's DatabaseScheduler), all with the production settings
(`energyleaf.settings.base`, Redis broker, `CELERY_VISIBILITY_TIMEOUT=10`). Sensors are
registered with the services (`register_simulated_sensors`) and driven by `simulation.run`
with `live_timestamps`, so each reading the clients were told is stored can be compared exactly
with the `Reading` table (sensor, timestamp). The shared PostgreSQL/Redis on 5432/6379 are never
touched; everything started is stopped at the end (`--keep` leaves the directory for reading the
logs).

Scenarios (all by default, in this order):

* `load` - 50 Tasmota + Pi + Pi-batch clients, one reading per second each: every reading
  answered 2xx is stored exactly once, no stored reading was answered otherwise, refusals carry
  a reason, no failures.
* `redis_down` - the broker is stopped during the load: ingestion goes on without a single
  failure; beat and worker survive and resume (recovery = first heartbeat after Redis is back;
  heartbeat and detection fan-out scheduled every 2 s / 10 s in django-celery-beat's tables).
  Schedule ticks missed in the outage are reported as a finding when nothing catches them up.
* `pg_restart` - PostgreSQL is stopped (`pg_ctl stop -m immediate`: no checkpoint, crash
  recovery on start) for a while and started again during the load: no 2xx
  for a reading that was not stored, 5xx while down, gunicorn recovers without a restart
  (recovery = first 2xx of a probe sensor posting every 0.1 s after PostgreSQL is up), and the
  clients that buffer and retry (Pi styles) end with every reading stored. Tasmota clients have
  no buffer (like the real driver): what they drop is shown, not a server loss. A reading whose
  commit reached PostgreSQL as it was killed is stored although its answer was 5xx (an
  ambiguous commit, at most one per client): a finding, not a failure.
* `worker_killed` - detection (`analytics.detect_sequences_for_sensor`) and report
  (`reports.generate_report`) tasks are held inside their transaction (a table lock held by the
  runner), then the worker is SIGKILLed: first only its pool processes
  (`task_reject_on_worker_lost`), then the whole worker (redelivery after the visibility
  timeout); after the restart every peak and every report exists exactly once.
* `batch_resend` - a batch of 10 000 readings sent three times in a row, and three times at once
  for a second sensor: 10 000 rows each, the rest answered as duplicates.

Prints a table (scenario, load, sent, accepted, refused, stored, lost, duplicated, recovery time,
result) and writes `faults-<UTC time>.json` and `.md` into `--results-dir` (`bench/results/`).
Exit status 1 when any scenario fails (findings alone do not fail a run). `--quick` (about 3
minutes) is meant for CI.
Run the full suite under `flock /tmp/bench.lock`: it loads the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.faults.infra import Stack, log  # noqa: E402
from bench.faults.scenarios import (  # noqa: E402
    FULL,
    QUICK,
    SCENARIOS,
    Profile,
    ScenarioResult,
)

RESULTS = ROOT / "bench" / "results"
HEADERS = (
    "scenario",
    "load",
    "sent",
    "accepted",
    "refused",
    "stored",
    "lost",
    "duplicated",
    "recovery s",
    "result",
)


def _row(result: ScenarioResult) -> list[str]:
    recovery = "-" if result.recovery_s is None else f"{result.recovery_s:g}"
    verdict = "PASS" if result.passed else "FAIL"
    if result.findings:
        verdict += " (finding)"
    return [
        result.scenario,
        result.load,
        str(result.sent),
        str(result.accepted),
        str(result.refused),
        str(result.stored),
        str(result.lost),
        str(result.duplicated),
        recovery,
        verdict,
    ]


def format_table(results: list[ScenarioResult]) -> str:
    rows = [list(HEADERS), *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(results: list[ScenarioResult], profile: Profile, started: str) -> str:
    lines = [
        f"# Fault suite ({profile.name}), {started}",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(" --- " for _ in HEADERS) + "|",
    ]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in results]
    for r in results:
        for text in r.failures:
            lines.append(f"\n- **{r.scenario} FAIL:** {text}")
        for text in r.findings:
            lines.append(f"\n- **{r.scenario} finding:** {text}")
    return "\n".join(lines) + "\n"


def _git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _django_setup(stack: Stack) -> None:
    os.environ.update(stack.environment())
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short scenarios (CI, ~3 min)")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="run only these"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="where the JSON and Markdown go"
    )
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    names = [name for name in SCENARIOS if not args.scenario or name in args.scenario]
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = Path(tempfile.mkdtemp(prefix="energyleaf-faults-"))
    stack = Stack.create(directory)
    results: list[ScenarioResult] = []
    began = time.monotonic()
    try:
        stack.start_infrastructure()
        _django_setup(stack)
        log("database migrated")
        stack.start_gunicorn()
        stack.start_worker()
        stack.start_beat()
        log(f"gunicorn on {stack.url}, worker and beat started; logs in {directory}")
        for name in names:
            log(f"scenario {name} ({profile.name})")
            t0 = time.monotonic()
            try:
                result = SCENARIOS[name](stack, profile)
            except Exception as exc:
                traceback.print_exc()
                result = ScenarioResult(name, "-")
                result.failures.append(f"crashed: {exc!r}")
            result.details["seconds"] = round(time.monotonic() - t0, 1)
            if not result.passed:
                result.details["log_tails"] = {
                    n: service.log_tail(4000) for n, service in stack.services.items()
                }
            results.append(result)
            log(f"scenario {name}: {'PASS' if result.passed else 'FAIL'} {result.failures}")
    finally:
        for service in stack.services.values():
            if service.alive():
                continue
            log(f"{service.name} is not running; log tail:\n{service.log_tail()}")
        stack.teardown()
        if args.keep or not all(r.passed for r in results):
            log(f"logs kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    total = round(time.monotonic() - began, 1)

    print()
    print(format_table(results))
    for r in results:
        for text in r.failures:
            print(f"FAIL {r.scenario}: {text}")
        for text in r.findings:
            print(f"FINDING {r.scenario}: {text}")
    print(f"total {total} s")

    args.results_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "suite": "faults",
        "profile": profile.name,
        "profile_values": profile.__dict__,
        "started": started,
        "seconds": total,
        "git": _git_revision(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": [r.to_dict() for r in results],
    }
    stem = args.results_dir / f"faults-{started}"
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(format_markdown(results, profile, started))
    print(f"wrote {stem}.json and .md")
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
