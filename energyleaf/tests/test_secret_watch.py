"""The suite-wide secret watch finds what it must and nothing else."""

from __future__ import annotations

import logging

import pytest
from django.core import signing

from energyleaf.tests.secret_watch import SecretWatch

TOKEN = "Ab3dEfGh1jKlMn0pQrStUvWxYz1234"  # the shape of a sensor token: 30 letters and digits


@pytest.fixture
def watch() -> SecretWatch:
    watch = SecretWatch()
    watch.secret(TOKEN, "a sensor token")
    watch.secret("correct horse battery staple", "a password")
    return watch


def log(watch: SecretWatch, message: str, *args: object) -> None:
    # Not propagated: these deliberate leaks are for this watch only, not the session's.
    logger = logging.getLogger("energyleaf.tests.secret_watch_probe")
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.info(message, *args)
    finally:
        logger.removeHandler(watch)


@pytest.mark.parametrize(
    "message",
    [
        f"token issued: {TOKEN}",
        f"Authorization: Bearer {TOKEN[:20]}…",  # logged in part
        f"body=b'\\x0a\\x1e{TOKEN}'",  # glued to other text
        "login failed for password correct horse battery staple",
        "header eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo0Mn0.c2lnbmF0dXJlLXBhcnQ",
    ],
)
def test_a_secret_in_a_log_record_is_found(watch: SecretWatch, message: str) -> None:
    log(watch, "%s", message)
    assert [leak.kind for leak in watch.leaks()] != []


def test_ordinary_records_are_not_leaks(watch: SecretWatch) -> None:
    log(watch, "sensor %s sent %d readings", "AA:BB:CC:DD:EE:FF", 12)
    log(watch, "token hash %s", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    log(watch, "Token expired for sensor %s", TOKEN[:6])
    assert list(watch.leaks()) == []


def test_the_running_suite_records_signatures_and_tokens() -> None:
    """The plugin is active in this session: signing something makes it a known secret."""
    from energyleaf.tests import secret_watch

    if not secret_watch._restore:
        pytest.skip("secret watch switched off (ENERGYLEAF_SECRET_WATCH=0)")
    before = secret_watch._watch.secrets
    signed = signing.dumps({"user": 1}, salt="probe")
    assert secret_watch._watch.secrets == before + 1
    assert secret_watch._watch._find(f"link ?token={signed}") == "a signature"
