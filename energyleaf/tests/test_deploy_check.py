"""`manage.py check --deploy` is clean with production settings from the environment.

Runs the command in a subprocess on `energyleaf.settings.base` with what a deployment sets (see
docs/operations.md, "In production"), and checks that leaving the security variables out is flagged,
so the clean run means something.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
    "DJANGO_READ_DOT_ENV_FILE": "false",
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "energy.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://energy.example.org",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_SESSION_COOKIE_SECURE": "true",
    "DJANGO_CSRF_COOKIE_SECURE": "true",
    # Only read when something is cached; the check does not connect.
    "DJANGO_CACHE_URL": "redis://127.0.0.1:6379/14",
    "DJANGO_NUM_PROXIES": "1",
}


def check_deploy(overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "GUNICORN_")) and key != "DATABASE_URL"
    }
    env.update(PRODUCTION)
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    env["ENERGYLEAF_VAR_DIR"] = str(tmp_path)
    env.update(overrides)
    for name, value in overrides.items():
        if value == "":
            env.pop(name)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deploy-check")


def test_check_deploy_is_clean_with_production_settings(var_dir: Path) -> None:
    result = check_deploy({}, var_dir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_check_deploy_flags_missing_security_settings(var_dir: Path) -> None:
    """Without HTTPS redirect, HSTS and a shared cache, the checklist complains about each."""
    result = check_deploy(
        {
            "DJANGO_SECURE_SSL_REDIRECT": "",
            "DJANGO_SECURE_HSTS_SECONDS": "",
            "DJANGO_CACHE_URL": "",
        },
        var_dir,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for check_id in ("security.W004", "security.W008", "sensors.W001"):
        assert check_id in output, output
