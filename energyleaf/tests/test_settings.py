"""The base settings' defaults, read in a clean subprocess so no test override leaks in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
