"""A real Celery worker and beat (subprocesses, Redis broker) on the test database: beat fires
the detection fan-out from a django-celery-beat PeriodicTask, the worker runs one task per sensor,
and the sequences end up stored. Also checks that beat seeds the code-defined schedule into
django-celery-beat's tables (where the admin edits it)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.models import Sequence
from energyleaf.audit.models import AuditEvent
from energyleaf.tests.helpers import database_url_or_skip, process_stop

from .factories import SensorFactory, readings_from_power

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = 13
WAIT_S = 40.0
WS = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
WE = WS + timedelta(minutes=30)


def _redis_reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def celery_processes(
    transactional_db: None, tmp_path: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start `celery worker` and `celery beat` on the test database; stop them afterwards."""
    from django.db import connection

    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DATABASE_URL": database_url_or_skip(connection.settings_dict, "a Celery worker"),
            "CELERY_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "ENERGYLEAF_VAR_DIR": str(tmp_path),
            "DJANGO_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    celery = str(Path(sys.executable).parent / "celery")
    commands = {
        "worker": [celery, "-A", "energyleaf", "worker", "--pool", "solo", "--loglevel", "INFO",
                   "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "--hostname", f"detection-e2e-{os.getpid()}@%h"],
        "beat": [celery, "-A", "energyleaf", "beat", "--loglevel", "INFO", "--pidfile=",
                 "--max-interval", "1"],
    }  # fmt: skip
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            with (tmp_path / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(  # noqa: S603 - fixed command line
                    command,
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        yield processes
    finally:
        for process in reversed(processes.values()):  # beat first: nothing sent after the worker
            process_stop(process, timeout=20)
        if connection.settings_dict["ENGINE"] == "django.db.backends.sqlite3":
            # the processes put the file in WAL mode; pytest-django removes only the file itself
            try:
                name = str(connection.settings_dict["NAME"])
                with closing(sqlite3.connect(name, timeout=5)) as db:
                    db.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.Error:
                pass  # best effort: only leftover -wal/-shm files are at stake


def _logs(directory: Path) -> str:
    """The tails of the worker's and beat's logs, for failure messages."""
    return "\n".join(
        f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}"
        for path in sorted(directory.glob("*.log"))
    )


def _wait_for(condition: Any, processes: dict[str, subprocess.Popen[bytes]], logs: Path) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        for name, process in processes.items():
            assert process.poll() is None, (
                f"celery {name} exited with {process.returncode}\n{_logs(logs)}"
            )
        time.sleep(0.5)
    return bool(condition())


def test_beat_and_worker_run_the_fanout_and_store_sequences(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from django.apps import apps as django_apps
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    from energyleaf.schedule import schedule_seed

    # The default entry as the migration seeds it, then moved by the admin.
    schedule_seed(apps=django_apps, names=["detect-sequences"])
    edited = PeriodicTask.objects.get(name="detect-sequences")
    edited.crontab = CrontabSchedule.objects.create(minute="10,40", hour="*", timezone="UTC")
    edited.save()
    sensors = [SensorFactory(), SensorFactory()]
    for n, sensor in enumerate(sensors):
        readings_from_power(
            sensor,
            start=WS - timedelta(hours=24),
            end=WE,
            loads=[(WS + timedelta(minutes=5 + n), WS + timedelta(minutes=15), 2500.0)],
            seed=n,
        )
    quiet = SensorFactory()
    readings_from_power(quiet, start=WS - timedelta(hours=24), end=WE, seed=7)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name="detection e2e fan-out",
        task="analytics.detect_sequences_fanout",
        interval=every_second,
        kwargs=json.dumps({"kinds": ["peak"], "window_start": WS.isoformat()}),
    )

    processes = request.getfixturevalue("celery_processes")
    peaks = Sequence.objects.filter(kind="peak", sensor__in=sensors)
    assert _wait_for(lambda: peaks.count() == len(sensors), processes, tmp_path), (
        f"only {peaks.count()} of {len(sensors)} peaks stored within {WAIT_S} s\n{_logs(tmp_path)}"
    )

    stored = {row.sensor_id: row for row in peaks}
    for n, sensor in enumerate(sensors):
        assert stored[sensor.pk].start == WS + timedelta(minutes=5 + n)
        assert stored[sensor.pk].end == WS + timedelta(minutes=15)
    assert AuditEvent.objects.filter(title="analytics/detection-fanout").exists()
    # The quiet sensor's task may still be queued behind the loaded ones: wait for its run too.
    quiet_runs = AuditEvent.objects.filter(title="analytics/detection", sensor_id=quiet.pk)
    assert _wait_for(quiet_runs.exists, processes, tmp_path), _logs(tmp_path)
    assert not Sequence.objects.filter(sensor=quiet).exists()
    # beat ran the fan-out again and again: still one row per peak
    assert _wait_for(
        lambda: AuditEvent.objects.filter(title="analytics/detection-fanout").count() >= 2,
        processes,
        tmp_path,
    )
    assert peaks.count() == len(sensors)
    # beat ran on the schedule in the tables and left the admin's edit alone
    seeded = PeriodicTask.objects.get(name="detect-sequences")
    assert seeded.task == "analytics.detect_sequences_fanout"
    assert seeded.crontab is not None
    assert seeded.crontab.minute == "10,40"
