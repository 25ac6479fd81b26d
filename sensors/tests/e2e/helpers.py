"""The end-to-end tests' gunicorn: where it is, how it is started, stopped and cleaned up after.
The fixture that runs it is in this folder's conftest."""

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


def gunicorn_path() -> Path:
    for candidate in (Path(sys.executable).parent / "gunicorn", ROOT / ".venv/bin/gunicorn"):
        if candidate.exists():
            return candidate
    pytest.fail("gunicorn is not installed next to the test interpreter")


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


def leave_wal_mode(settings_dict: dict[str, Any]) -> None:
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
