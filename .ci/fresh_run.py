"""CI stage: the README's run command on a fresh clone, as a new user would run it.

    python3 .ci/fresh_run.py [--timeout SECONDS]

Clones the checkout's HEAD into a temporary folder (no .venv, no var/), starts
`python3 dev.py run` there in its own process group with none of the project's variables set,
and waits until the admin login page answers, the demo history is there (readings, peaks, a
report, an export job) and the simulated sensor has stored a reading through the web server. Then
it presses Ctrl-C (SIGINT to the whole group, as a terminal does), waits for the command to end
and checks that no process of the clone is left. Prints the timings. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def count(database: Path, sql: str, *params: object) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql, params).fetchone()[0])
    except sqlite3.Error:
        return 0  # not migrated yet, or locked for a moment


def processes_of(folder: Path) -> list[str]:
    """Processes (other than this one) whose command line or working folder is in `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(f"{entry.name}: {cmdline.strip()[:160]}")
    return found


def echo(stream: object, sink: list[str], started: float) -> None:
    for raw in stream:  # type: ignore[attr-defined]
        line = raw.decode(errors="replace").rstrip()
        sink.append(line)
        print(f"[fresh-run +{time.monotonic() - started:5.0f}s] {line}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="energyleaf-fresh-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "GUNICORN_", "ENERGYLEAF_"))
        and key not in {"DATABASE_URL", "VIRTUAL_ENV"}
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = clone / "var" / "energyleaf.sqlite3"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "dev.py", "run", "--port", str(port)],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=echo, args=(process.stdout, output, started), daemon=True)
    reader.start()
    marks: dict[str, float] = {}
    served_since = ""
    failure = ""
    try:
        while True:
            now = time.monotonic() - started
            if process.poll() is not None:
                failure = f"dev.py run exited with {process.returncode} before it was ready"
                break
            if now > args.timeout:
                failure = f"not ready after {args.timeout:.0f} s: {sorted(marks)} reached"
                break
            if "admin" not in marks and answers(f"{base}/admin/login/"):
                marks["admin"] = now
                served_since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
                marks["demo history"] = (
                    now
                    if all(
                        count(database, f"SELECT COUNT(*) FROM {table}") > 0
                        for table in ("analytics_sequence", "reports_report", "exports_exportjob")
                    )
                    and count(database, "SELECT COUNT(*) FROM sensors_reading") > 1000
                    else -1
                )
            if "admin" in marks and count(
                database, "SELECT COUNT(*) FROM sensors_reading WHERE received_at > ?",
                served_since,
            ):  # fmt: skip
                marks["live reading"] = now
                break
            time.sleep(1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            returncode = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            returncode = process.wait()
            failure = failure or "dev.py run did not stop within 90 s of Ctrl-C"
    reader.join(timeout=5)
    time.sleep(2)
    left = processes_of(clone)
    for pid_line in left:
        with contextlib.suppress(OSError):
            os.kill(int(pid_line.split(":")[0]), signal.SIGKILL)
    for name, at in marks.items():
        print(f"[fresh-run] {name}: {'missing' if at < 0 else f'{at:.0f} s after start'}")
    if not failure and marks.get("demo history", -1) < 0:
        failure = "the admin answered before the demo history (readings, peaks, report, export)"
    if not failure and returncode != 0:
        failure = f"dev.py run ended with {returncode} after Ctrl-C"
    if left:
        leftovers = "processes left after Ctrl-C (killed now):\n  " + "\n  ".join(left)
        failure = f"{failure}; {leftovers}" if failure else leftovers
    if failure:
        print(f"[fresh-run] FAILED: {failure}", flush=True)
        return 1
    subprocess.run(["rm", "-rf", str(work)], check=False)
    print("[fresh-run] passed: served, demo history, a live reading, nothing left after Ctrl-C")
    return 0


if __name__ == "__main__":
    sys.exit(main())
