#!/usr/bin/env python3
"""Set up and run Energyleaf on this machine, or run its tests. Needs only Python 3.11+.

    python3 dev.py run          # venv, install, migrate, demo data; web + Celery worker + beat
    python3 dev.py test         # venv, install, the whole test suite (extra args go to pytest)
    python3 dev.py manage ARGS  # manage.py ARGS in the environment of `run` (createsuperuser, ...)

`run` uses the embedded default (SQLite and a filesystem Celery broker under var/, mail to the
console) unless DATABASE_URL / CELERY_BROKER_URL are set. Ctrl-C stops every process cleanly.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ENERGYLEAF_VENV", ROOT / ".venv"))
VAR = ROOT / "var"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
POSIX = os.name == "posix"


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def ensure_environment(requirements: str) -> None:
    """Create the virtual environment and install `requirements` when they changed."""
    if not PYTHON.exists():
        log(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = [ROOT / "requirements.txt", ROOT / requirements]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    marker = VENV / f".installed-{requirements}"
    if marker.exists() and marker.read_text() == digest:
        return
    log(f"installing {requirements} (first run takes a few minutes)")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    pip_install(pip, requirements)
    marker.write_text(digest)
    log(f"installed {requirements}")


def pip_install(pip: list[str], requirements: str) -> None:
    """Install `requirements`, printing one short line per package pip collects (pip's own
    progress bars print poorly when the output is not a terminal)."""
    command = [*pip, "install", "--progress-bar", "off", "-r", str(ROOT / requirements)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        output: list[str] = []
        for line in process.stdout or ():
            output.append(line)
            text = line.strip()
            if text.startswith(("Collecting ", "Installing collected", "Successfully installed")):
                log(f"pip: {text[:100]}")
    if process.returncode:
        sys.stdout.write("".join(output[-40:]))
        raise subprocess.CalledProcessError(process.returncode, command)


def run_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.base")
    VAR.mkdir(exist_ok=True)
    key_file = VAR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    env.setdefault("DJANGO_SECRET_KEY", key_file.read_text().strip())
    # The run command serves plain HTTP on loopback: cookies must not require HTTPS there.
    env.setdefault("DJANGO_SESSION_COOKIE_SECURE", "false")
    env.setdefault("DJANGO_CSRF_COOKIE_SECURE", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The front page says where the demo logins are kept.
    env.setdefault("ENERGYLEAF_DEMO", "true")
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(PYTHON), str(ROOT / "manage.py"), *args], check=True, cwd=ROOT, env=env)


def command_manage(args: argparse.Namespace) -> int:
    """`manage.py ARGS` with exactly the environment of `run` (same database, secret key)."""
    ensure_environment("requirements.txt")
    env = run_environment()
    process = subprocess.Popen(
        [str(PYTHON), str(ROOT / "manage.py"), *args.manage_args], cwd=ROOT, env=env
    )
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue  # the terminal sent Ctrl-C to the command too; wait until it has stopped


def command_run(args: argparse.Namespace) -> int:
    ensure_environment("requirements.txt")
    env = run_environment()
    env.setdefault("GUNICORN_BIND", f"{args.host}:{args.port}")
    env.setdefault("GUNICORN_WORKERS", "2")
    log("migrating the database")
    manage(env, "migrate", "--noinput", "-v", "0")
    log("collecting static files")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    # Adds only what is missing: the first time it trains the peak classifier and seeds two days
    # of history (measured 49 s on 2 busy cores, 42 s of it training; a progress line every few
    # seconds); later it only checks.
    log("preparing the demo")
    manage(env, "seed_demo")
    processes = {
        "web": [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "energyleaf.wsgi"],
        "worker": [str(BIN / "celery"), "-A", "energyleaf", "worker", "-l", "info", "-c", "2"],
        "beat": [str(BIN / "celery"), "-A", "energyleaf", "beat", "-l", "info"],
    }
    if (
        args.sensors > 0
        and (ROOT / "energyleaf/demo/management/commands/simulate_sensors.py").exists()
    ):
        processes["sensors"] = [
            str(PYTHON), str(ROOT / "manage.py"), "simulate_sensors",
            "--count", str(args.sensors), "--url", f"http://{args.host}:{args.port}", "--register",
        ]  # fmt: skip
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Before the first start: a Ctrl-C while starting must still stop what was started.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    running: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in processes.items():
        if stopping:
            break
        # Each in its own process group: Ctrl-C reaches only this script, which stops them in
        # order, and whatever a process leaves behind (gunicorn workers, the Celery pool) can be
        # found and ended by its group.
        running[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=POSIX)
        log(f"started {name} (pid {running[name].pid})")
    base = f"http://{args.host}:{args.port}"
    log(f"open {base}/  admin: {base}/admin/  API docs: {base}/api/docs/  health: {base}/health")
    log("Ctrl-C stops everything")
    exit_code = 0
    while not stopping:
        for name, process in running.items():
            if process.poll() is not None:
                log(f"{name} exited with {process.returncode}; stopping the rest")
                exit_code = process.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for process in running.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, process in running.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in time; killing it")
            process.kill()
            process.wait()
    for name, process in running.items():
        if kill_group(process.pid):
            log(f"{name} left processes behind; killed them")
    log("stopped")
    return exit_code


def kill_group(pgid: int) -> bool:
    """SIGKILL whatever is left of the process group `pgid`; True if anything was."""
    if not POSIX:
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    os.killpg(pgid, signal.SIGKILL)
    return True


def command_test(args: argparse.Namespace) -> int:
    ensure_environment("requirements-dev.txt")
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest.ini names the test settings
    database = env.get("DATABASE_URL", "SQLite (a file under var/)")
    log(f"running the test suite on {database.split('@')[-1]}")
    return subprocess.run(
        [str(PYTHON), "-m", "pytest", *args.pytest_args], cwd=ROOT, env=env, check=False
    ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="set up and run web, worker and beat")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--sensors", type=int, default=1, help="simulated sensors (0 for none)")
    test = sub.add_parser("test", help="set up and run the test suite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    manage_parser = sub.add_parser(
        "manage",
        help="run manage.py with the environment of run (e.g. createsuperuser)",
        add_help=False,  # --help goes to manage.py
    )
    manage_parser.add_argument("manage_args", nargs=argparse.REMAINDER)
    args, unknown = parser.parse_known_args()
    try:
        if args.command == "run":
            if unknown:
                parser.error(f"unrecognized arguments: {' '.join(unknown)}")
            return command_run(args)
        if args.command == "manage":
            args.manage_args = [*unknown, *args.manage_args]  # options such as --help go along
            return command_manage(args)
        args.pytest_args = [*unknown, *args.pytest_args]  # options such as -q go to pytest
        return command_test(args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except subprocess.CalledProcessError as error:
        log(f"a step failed with exit code {error.returncode}; its output is above")
        return error.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
