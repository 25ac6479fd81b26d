"""A real gunicorn, started with the repository's `gunicorn.conf.py`, serving the test database.

The server runs the production settings (`energyleaf.settings.base`) in its own processes and
connects to the database that pytest-django created, so tests must commit their data
(`pytest.mark.django_db(transaction=True)`) for the server to see it, and read back what the
server committed.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from energyleaf.common.testing import database_url_for

from .clients import HttpConnection, ProtocolViolation

ROOT = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class LiveServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stderr_tail(self, limit: int = 8000) -> str:
        text = self.stderr_path.read_text(errors="replace")
        return text[-limit:]


_running: list[LiveServer] = []


def _gunicorn() -> Path:
    for candidate in (Path(sys.executable).parent / "gunicorn", ROOT / ".venv/bin/gunicorn"):
        if candidate.exists():
            return candidate
    pytest.fail("gunicorn is not installed next to the test interpreter")


def _database_url(settings_dict: dict[str, Any]) -> str:
    url = database_url_for(settings_dict)
    if url is None:
        pytest.skip(f"gunicorn cannot open the test database {settings_dict['NAME']}")
    return url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait until a worker answers an HTTP request (bounded by START_TIMEOUT)."""
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} while starting")
        try:
            with HttpConnection(HOST, port, timeout=5) as conn:
                answer = conn.request("GET", "/api/v1/sensor_input", headers=("Connection: close",))
            if answer.status == 405:
                return
            raise RuntimeError(f"unexpected answer while starting: {answer.status_line}")
        except (OSError, ProtocolViolation) as exc:
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT} s: {last_error}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful), then SIGKILL to the process group if it does not end in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group holds only this gunicorn's processes
        process.wait(timeout=5)


def _leave_wal_mode(settings_dict: dict[str, Any]) -> None:
    """Switch the SQLite test database back from the WAL mode gunicorn's settings put it in.

    The workers may exit without closing their connections, which leaves `-wal` and `-shm`
    files next to the database; pytest-django removes only the database file itself.
    """
    if settings_dict["ENGINE"] != "django.db.backends.sqlite3":
        return
    try:
        with closing(sqlite3.connect(str(settings_dict["NAME"]), timeout=10)) as database:
            database.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error:
        pass  # best effort: only leftover files are at stake


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Give this run's test database its own name (`..._e2e<pid>`).

    pytest runs by other people on the same checkout use the same test database name and drop
    it when they finish, under a running gunicorn. This override takes effect when an end-to-end
    test is the first to need the database (as in `pytest sensors/tests/e2e`).
    """
    from django.conf import settings

    for db_settings in settings.DATABASES.values():
        test_name = db_settings.get("TEST", {}).get("NAME")
        if not test_name:
            if db_settings["ENGINE"] == "django.db.backends.sqlite3":
                continue  # an in-memory database: the skip in gunicorn_server explains
            test_name = f"test_{db_settings['NAME']}"
        if str(test_name).endswith(".sqlite3"):
            test_name = f"{str(test_name)[: -len('.sqlite3')]}-e2e{os.getpid()}.sqlite3"
        else:
            test_name = f"{test_name}_e2e{os.getpid()}"
        db_settings.setdefault("TEST", {})["NAME"] = test_name


@pytest.fixture(scope="session")
def gunicorn_server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A gunicorn (2 gthread workers) on a free loopback port, serving the test database."""
    from django.db import connection

    database_url = _database_url(connection.settings_dict)
    var_dir = tmp_path_factory.mktemp("gunicorn-var")
    port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "GUNICORN_BIND": f"{HOST}:{port}",
            "GUNICORN_WORKERS": "2",
            "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "ENERGYLEAF_VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            # No control socket in ~/.gunicorn: other gunicorns on this machine use that path.
            "GUNICORN_CMD_ARGS": "--no-control-socket",
        }
    )
    stdout_path = var_dir / "gunicorn.stdout"
    stderr_path = var_dir / "gunicorn.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            [str(_gunicorn()), "-c", "gunicorn.conf.py", "energyleaf.wsgi"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    server = LiveServer(HOST, port, process, stderr_path)
    try:
        _wait_until_serving(process, port)
    except RuntimeError as exc:
        _stop(process)
        pytest.fail(f"{exc}\n--- gunicorn stderr ---\n{server.stderr_tail()}", pytrace=False)
    _running.append(server)
    try:
        yield server
    finally:
        _running.remove(server)
        _stop(process)
        _leave_wal_mode(connection.settings_dict)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of gunicorn's stderr to every failed end-to-end test."""
    report = yield
    if report.failed and _running:
        report.sections.append(("gunicorn stderr", _running[-1].stderr_tail()))
    return report
