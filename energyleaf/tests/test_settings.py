"""The base settings' defaults, read in a clean subprocess so no test override leaks in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": db["ENGINE"],
    "name": str(db["NAME"]),
    "broker": settings.CELERY_BROKER_URL,
    "broker_dir": settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""),
    "tz": settings.TIME_ZONE,
    "use_tz": settings.USE_TZ,
    "celery_tz": settings.CELERY_TIMEZONE,
    "email": settings.EMAIL_BACKEND,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "beat": settings.CELERY_BEAT_SCHEDULER,
    "household_tz": settings.ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE,
    "conn_max_age": db["CONN_MAX_AGE"],
    "pool": db.get("OPTIONS", {}).get("pool"),
    "admission_limit": settings.WEB_ADMISSION_LIMIT,
}))
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO", "DATABASE", "CELERY", "ENERGYLEAF"))
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "energyleaf.settings.base"
    return subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_defaults_are_embedded_and_safe(tmp_path):
    result = _run({"DJANGO_SECRET_KEY": "x" * 50, "ENERGYLEAF_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["debug"] is False
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "energyleaf.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["broker_dir"].startswith(str(tmp_path))
    assert values["tz"] == "UTC"
    assert values["use_tz"] is True
    assert values["celery_tz"] == "UTC"
    assert values["email"] == "django.core.mail.backends.console.EmailBackend"
    assert values["eager"] is False
    assert values["beat"] == "django_celery_beat.schedulers:DatabaseScheduler"
    assert values["household_tz"] == "Europe/Berlin"


def test_secret_key_is_required_without_debug():
    result = _run({})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_debug_without_key_uses_a_random_one_with_a_warning():
    result = _run({"DJANGO_DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert "using a random key" in result.stderr


@pytest.mark.parametrize(
    ("env", "engine", "broker"),
    [
        (
            {
                "DATABASE_URL": "postgres://u:p@db.example:5432/energy",
                "CELERY_BROKER_URL": "redis://r:6379/0",
            },
            "django.db.backends.postgresql",
            "redis://r:6379/0",
        ),
    ],
)
def test_production_services_from_the_environment(env, engine, broker):
    result = _run({"DJANGO_SECRET_KEY": "x" * 50, **env})
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["engine"] == engine
    assert values["name"] == "energy"
    assert values["broker"] == broker
    assert values["broker_dir"] == ""


def test_every_variable_the_settings_read_is_listed_in_env_example() -> None:
    """`.env.example` is the list of every variable (README): one that the settings or the
    gunicorn configuration read but the example does not name fails here."""
    import re

    read = set(
        re.findall(
            r'env\.(?:str|bool|int|float|list|json|db_url|cache_url)\(\s*"([A-Z0-9_]+)"',
            (ROOT / "energyleaf" / "settings" / "base.py").read_text(encoding="utf-8"),
        )
    )
    read |= set(
        re.findall(
            r'os\.environ\.get\("([A-Z0-9_]+)"',
            (ROOT / "gunicorn.conf.py").read_text(encoding="utf-8"),
        )
    )
    listed = set(
        re.findall(
            r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M
        )
    )
    assert len(read) > 40  # the patterns still find the settings
    assert sorted(read - listed) == []


def _gunicorn_config(environ: dict[str, str]) -> dict[str, Any]:
    """gunicorn.conf.py evaluated with `environ` as the process environment (restored after)."""
    config = settings.BASE_DIR / "gunicorn.conf.py"
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(environ)
        namespace: dict[str, Any] = {}
        exec(compile(config.read_text(), str(config), "exec"), namespace)  # noqa: S102 - own config
        return namespace
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_production_web_server_is_gevent_with_a_database_pool() -> None:
    """The production server: gevent workers that hold thousands of connections each, and the
    pool variable handed to the workers without touching the environment of whoever reads the
    file; the gevent worker class imports from a production install."""
    namespace = _gunicorn_config({})
    assert namespace["worker_class"] == "gevent"
    assert namespace["worker_connections"] >= 10_000
    assert namespace["keepalive"] > 21  # longer than the sensors' sending interval
    assert namespace["max_requests"] == 0  # replacing a worker would drop all its sensors
    assert namespace["raw_env"] == ["DJANGO_DB_POOL_MAX_SIZE=16"]
    assert _gunicorn_config({"DJANGO_DB_POOL_MAX_SIZE": ""})["raw_env"] == namespace["raw_env"]
    assert _gunicorn_config({"DJANGO_DB_POOL_MAX_SIZE": "4"})["raw_env"] == [
        "DJANGO_DB_POOL_MAX_SIZE=4"
    ]
    gthread = _gunicorn_config({"GUNICORN_WORKER_CLASS": "gthread"})
    assert gthread["worker_class"] == "gthread"
    assert "raw_env" not in gthread

    from gunicorn.workers.ggevent import GeventWorker  # requires gevent (requirements.txt)

    assert GeventWorker.__name__ == "GeventWorker"


@pytest.mark.parametrize(
    ("database_url", "pool_size", "expected_pool", "expected_age"),
    [
        (
            "postgres://u@127.0.0.1:5432/x",
            "16",
            {"min_size": 1, "max_size": 16, "timeout": 10.0},
            0,
        ),
        ("postgres://u@h:5432/x", "0", None, 60),
        ("postgres://u@h:5432/x", "", None, 60),
        ("sqlite:////tmp/energyleaf-settings-probe.sqlite3", "16", None, 60),
    ],
)
def test_database_pool_only_on_postgresql_when_asked(
    tmp_path: Path,
    database_url: str,
    pool_size: str,
    expected_pool: dict[str, Any] | None,
    expected_age: int,
) -> None:
    env = {
        "DJANGO_SECRET_KEY": "x" * 50,
        "ENERGYLEAF_VAR_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
    }
    env["DJANGO_DB_POOL_MAX_SIZE"] = pool_size
    result = _run(env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["pool"] == expected_pool
    assert values["conn_max_age"] == expected_age
