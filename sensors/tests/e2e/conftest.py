"""A real web server, started as in production (gunicorn with the repository's `gunicorn.conf.py`),
serving the test database. `ENERGYLEAF_E2E_SERVER=gthread|granian|waitress` runs the same tests
against another server (bench/servers.py does, to compare them).

The server runs the production settings (`energyleaf.settings.base`) in its own processes and
connects to the database that pytest-django created, so tests must commit their data
(`pytest.mark.django_db(transaction=True)`) for the server to see it, and read back what the
server committed.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from energyleaf.tests.helpers import database_url_or_skip, process_stop

from .helpers import (
    HOST,
    ROOT,
    STOP_TIMEOUT,
    LiveServer,
    free_port,
    leave_wal_mode,
    server_command,
    wait_until_serving,
)

_running: list[LiveServer] = []


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Give this run's test database its own name (`..._e2e<pid>`).

    pytest runs by other people on the same checkout use the same test database name and drop
    it when they finish, under a running server. This override takes effect when an end-to-end
    test is the first to need the database (as in `pytest sensors/tests/e2e`).
    """
    from django.conf import settings

    for db_settings in settings.DATABASES.values():
        test_name = db_settings.get("TEST", {}).get("NAME")
        if not test_name:
            if db_settings["ENGINE"] == "django.db.backends.sqlite3":
                continue  # an in-memory database: the skip in web_server explains
            test_name = f"test_{db_settings['NAME']}"
        if str(test_name).endswith(".sqlite3"):
            test_name = f"{str(test_name)[: -len('.sqlite3')]}-e2e{os.getpid()}.sqlite3"
        else:
            test_name = f"{test_name}_e2e{os.getpid()}"
        db_settings.setdefault("TEST", {})["NAME"] = test_name


@pytest.fixture(scope="session")
def web_server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The web server (2 worker processes) on a free loopback port, serving the test database."""
    from django.db import connection

    database_url = database_url_or_skip(connection.settings_dict, "the web server")
    var_dir = tmp_path_factory.mktemp("server-var")
    port = free_port()
    command, server_env = server_command(os.environ.get("ENERGYLEAF_E2E_SERVER", ""), port)
    env = dict(os.environ)
    env.update(server_env)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "ENERGYLEAF_VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    stdout_path = var_dir / "server.stdout"
    stderr_path = var_dir / "server.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    server = LiveServer(HOST, port, process, stderr_path)
    try:
        wait_until_serving(process, port)
    except RuntimeError as exc:
        process_stop(process, timeout=STOP_TIMEOUT)
        pytest.fail(f"{exc}\n--- server output ---\n{server.stderr_tail()}", pytrace=False)
    _running.append(server)
    try:
        yield server
    finally:
        _running.remove(server)
        process_stop(process, timeout=STOP_TIMEOUT)
        leave_wal_mode(connection.settings_dict)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of the server's output to every failed end-to-end test."""
    report = yield
    if report.failed and _running:
        report.sections.append(("server output", _running[-1].stderr_tail()))
    return report
