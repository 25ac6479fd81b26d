"""The end-to-end tests' web server: how it is started, stopped and cleaned up after. The fixture
that runs it is in this folder's conftest."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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


def server_command(kind: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and variables of a server with 2 worker processes on `port`.

    "" or "gunicorn": the production server (gunicorn.conf.py: gevent workers); "gthread",
    "granian" and "waitress": the candidates bench/servers.py compares it with (the last two are
    installed by requirements-dev.txt).
    """
    bind = f"{HOST}:{port}"
    app = "energyleaf.wsgi:application"
    if kind in ("", "gunicorn", "gthread"):
        env = {"GUNICORN_BIND": bind, "GUNICORN_WORKERS": "2"}
        if kind == "gthread":
            env["GUNICORN_WORKER_CLASS"] = "gthread"
        return [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), app], env
    if kind == "granian":
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1", "--no-ws",
            "--host", HOST, "--port", str(port), "--workers", "2", "--blocking-threads", "8", app,
        ]  # fmt: skip
        return command, {}
    if kind == "waitress":
        return [sys.executable, "-m", "waitress", f"--listen={bind}", "--threads=16", app], {}
    pytest.fail(f"ENERGYLEAF_E2E_SERVER={kind!r}: gunicorn, gthread, granian or waitress")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until_serving(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait until a worker answers an HTTP request (bounded by START_TIMEOUT)."""
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} while starting")
        try:
            with HttpConnection(HOST, port, timeout=5) as conn:
                answer = conn.request("GET", "/api/v1/sensor_input", headers=("Connection: close",))
            if answer.status == 405:
                return
            raise RuntimeError(f"unexpected answer while starting: {answer.status_line}")
        except (OSError, ProtocolViolation) as exc:
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT} s: {last_error}")


def leave_wal_mode(settings_dict: dict[str, Any]) -> None:
    """Switch the SQLite test database back from the WAL mode the server's settings put it in.

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
