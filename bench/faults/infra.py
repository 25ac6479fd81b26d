"""The processes of the fault suite: a private PostgreSQL and Redis, gunicorn, Celery worker/beat.

Everything listens on 127.0.0.1 on free ports and lives in one temporary directory. Only the
processes started here are ever signalled, by their own id (or their own process group, which
`start_new_session` gives each of them). PostgreSQL refuses to run as root, so as root its
commands run as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/local/bin"), Path("/usr/bin"))
REDIS_SERVER = Path("/usr/bin/redis-server")
DATABASE = "energyleaf_faults"


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port(preferred: int) -> int:
    """`preferred` when nothing listens there, else a free port chosen by the kernel."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, step: float = 0.2
) -> float:
    """Poll `condition()` until true; return the seconds waited, raise after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _pg_tool(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    raise RuntimeError(f"PostgreSQL's {name} is not installed")


def _stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL to the process's own group (started with start_new_session)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Postgres:
    """A throw-away cluster: trust auth, fsync on, loopback only, its own socket directory."""

    directory: Path
    port: int
    _as_postgres: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data = self.directory / "pgdata"
        self.logfile = self.directory / "postgres.log"
        if os.geteuid() == 0:
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{DATABASE}"

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        done = subprocess.run(  # noqa: S603 - fixed tools, arguments built here
            [*self._as_postgres, *args], check=False, timeout=timeout, capture_output=True
        )
        if done.returncode:
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {output}")

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            self.directory.parent.chmod(0o711)  # mkdtemp's 0700 would keep postgres out
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self._run(_pg_tool("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        options = [
            f"port = {self.port}",
            f"listen_addresses = '{HOST}'",
            f"unix_socket_directories = '{self.directory}'",
            "fsync = on",
            "synchronous_commit = on",
            "max_connections = 200",
            "shared_buffers = 64MB",
            # a backend notices within a second that its client (a killed worker) is gone
            "client_connection_check_interval = 1000",
        ]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(options) + "\n")

    def start(self) -> None:
        self._run(_pg_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> None:
        import psycopg

        admin = f"postgres://postgres@{HOST}:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")


@dataclass
class Redis:
    """redis-server without persistence: a restart starts with an empty broker."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed command line
                [str(REDIS_SERVER), "--port", str(self.port), "--bind", HOST, "--save", "",
                 "--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(lambda: port_open(self.port), 20, "redis-server")

    def stop(self) -> None:
        _stop_process(self.process)
        self.process = None
        wait_for(lambda: not port_open(self.port), 10, "redis-server to stop")


@dataclass
class Service:
    """One of our Python processes (gunicorn, celery worker, celery beat)."""

    name: str
    command: list[str]
    env: dict[str, str]
    logfile: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.logfile.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed command line
                self.command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        _stop_process(self.process)

    def kill_group(self) -> None:
        """SIGKILL the process and its children (its own process group): no warm shutdown."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def children(self) -> list[int]:
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def group(self) -> list[int]:
        """Ids of the processes in this service's process group (itself and its children)."""
        if self.process is None:
            return []
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.process.pid:  # pgrp, after state and ppid
                    members.append(int(stat.parent.name))
        return sorted(members)

    def log_tail(self, limit: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-limit:]
        return ""


@dataclass
class Stack:
    """The whole system under test, in one temporary directory."""

    directory: Path
    postgres: Postgres
    redis: Redis
    web_port: int
    visibility_timeout: int = 10
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    services: dict[str, Service] = field(default_factory=dict)
    started: list[Service] = field(default_factory=list)
    _generation: int = 0

    @classmethod
    def create(cls, directory: Path) -> Stack:
        return cls(
            directory=directory,
            postgres=Postgres(directory / "postgres", free_port(55432)),
            redis=Redis(directory / "redis", free_port(56379)),
            web_port=free_port(58000),
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    def environment(self) -> dict[str, str]:
        """Production settings pointed at the private services."""
        var = self.directory / "var"
        var.mkdir(exist_ok=True)
        return {
            "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
            "DJANGO_SECRET_KEY": self.secret,
            "DJANGO_DEBUG": "false",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DATABASE_URL": self.postgres.url,
            "CELERY_BROKER_URL": self.redis.url,
            "CELERY_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
            "CELERY_TASK_ACKS_LATE": "true",
            "CELERY_TASK_REJECT_ON_WORKER_LOST": "true",
            "ENERGYLEAF_VAR_DIR": str(var),
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def _service_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
        env.pop("DATABASE_URL", None)
        env.update(self.environment())
        env.update(extra)
        return env

    def start_infrastructure(self) -> None:
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            raise RuntimeError("running as root needs runuser to start PostgreSQL")
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_database()
        self.redis.start()
        log(f"PostgreSQL on {self.postgres.port}, Redis on {self.redis.port}")

    def _launch(self, service: Service) -> Service:
        """Start `service` as the one of its name; an earlier one of that name is stopped."""
        previous = self.services.get(service.name)
        if previous is not None:
            previous.stop()
        service.start()
        self.services[service.name] = service
        self.started.append(service)
        return service

    def start_gunicorn(self) -> Service:
        bin_dir = Path(sys.executable).parent
        service = Service(
            "gunicorn",
            [str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "energyleaf.wsgi"],
            self._service_env(
                GUNICORN_BIND=f"{HOST}:{self.web_port}",
                GUNICORN_WORKERS="2",
                GUNICORN_ACCESSLOG=str(self.directory / "access.log"),
                GUNICORN_LOGLEVEL="warning",
                GUNICORN_CMD_ARGS="--no-control-socket",
            ),
            self.directory / "gunicorn.log",
        )
        self._launch(service)
        wait_for(lambda: port_open(self.web_port), 60, "gunicorn")
        return service

    def start_worker(self, concurrency: int = 2) -> Service:
        self._generation += 1
        bin_dir = Path(sys.executable).parent
        service = Service(
            "worker",
            [str(bin_dir / "celery"), "-A", "energyleaf", "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--hostname", f"faults-{self._generation}@%h"],
            self._service_env(
                DJANGO_LOG_LEVEL="INFO",
                DJANGO_CONN_MAX_AGE="0",
                DJANGO_SETTINGS_MODULE="bench.faults.worker_settings",
            ),
            self.directory / "worker.log",
        )  # fmt: skip
        return self._launch(service)

    def start_beat(self) -> Service:
        bin_dir = Path(sys.executable).parent
        service = Service(
            "beat",
            [str(bin_dir / "celery"), "-A", "energyleaf", "beat", "--loglevel", "INFO",
             "--pidfile=", "--max-interval", "1"],
            self._service_env(DJANGO_LOG_LEVEL="INFO", DJANGO_CONN_MAX_AGE="0"),
            self.directory / "beat.log",
        )  # fmt: skip
        return self._launch(service)

    def teardown(self) -> None:
        for service in reversed(self.started):
            service.stop()
        with contextlib.suppress(Exception):
            self.redis.stop()
        if self.postgres.running():
            with contextlib.suppress(Exception):
                self.postgres.stop("fast")
