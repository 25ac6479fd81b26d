"""A pytest plugin: no secret reaches a log record anywhere in the test suite.

For the whole session, the project's loggers (and Django's, DRF's, Celery's) log at DEBUG into a
handler that keeps every formatted record (message, arguments, traceback), while the console
keeps its usual WARNING threshold. Secrets are gathered as the suite makes them:

* fixed ones from the settings and the test factories (DJANGO_SECRET_KEY, the cron secret, the
  ML API key, the SMTP password, the test users' password);
* every sensor token the token service issues (recorded where the answer is built, `TokenIssue`);
* every value signed with Django's signing (unsubscribe links and anything else signed);
* anything shaped like a JWT.

At the end of the session every kept record is searched (long secrets by their 16-character
pieces, so a secret logged in part or glued to other text is found too); a leak fails the run
with the logger, the test and the secret's kind, never the secret itself. The representative
flow of `test_secrets_not_logged.py` checks the audit table and the access-log format; this
plugin covers every log line the in-process suite writes. Logs of the processes that e2e tests
start (gunicorn, Celery) are files of those tests, not covered here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# Loggers whose records are kept at DEBUG during the session (their children included).
WATCHED_LOGGERS = (
    "energyleaf",
    "sensors",
    "analytics",
    "exports",
    "reports",
    "django",
    "rest_framework",
    "celery",
)
PIECE = 16  # secrets are matched by pieces of this length; shorter ones are matched whole
_RUN = re.compile(r"[A-Za-z0-9_\-:.]{16,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@dataclass
class _Leak:
    logger: str
    test: str
    kind: str


class SecretWatch(logging.Handler):
    """Keeps (test id, logger name, text) of every record; knows the secrets seen so far."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, str, str]] = []
        self.pieces: dict[str, str] = {}  # 16-character piece of a secret -> its kind
        self.whole: dict[str, str] = {}  # a short or spaced secret -> its kind
        self.secrets = 0
        self.current_test = "(session)"
        self.reattached: list[str] = []

    def secret(self, value: object, kind: str) -> None:
        text = str(value or "")
        if len(text) < 8:
            return
        self.secrets += 1
        if len(text) < PIECE or not _RUN.fullmatch(text):
            self.whole[text] = kind
            return
        for start in range(0, len(text) - PIECE + 1):
            self.pieces.setdefault(text[start : start + PIECE], kind)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is the logging call's problem, not ours
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        self.records.append((self.current_test, record.name, text))

    def leaks(self) -> Iterator[_Leak]:
        for test, name, text in self.records:
            kind = self._find(text)
            if kind:
                yield _Leak(name, test, kind)

    def _find(self, text: str) -> str | None:
        if _JWT.search(text):
            return "a JWT"
        for secret, kind in self.whole.items():
            if secret in text:
                return kind
        for run in _RUN.findall(text):
            for start in range(0, len(run) - PIECE + 1):
                kind = self.pieces.get(run[start : start + PIECE])
                if kind:
                    return kind
        return None


_watch = SecretWatch()
_saved_levels: dict[str, int] = {}
_saved_handler_levels: dict[logging.Handler, int] = {}
_restore: list[tuple[Any, str, Any]] = []


def _wrap(owner: Any, name: str, record: Any) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        record(args, kwargs, result)
        return result

    _restore.append((owner, name, original))
    setattr(owner, name, wrapper)


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("ENERGYLEAF_SECRET_WATCH", "1") == "0":
        return
    from django.conf import settings
    from django.core import signing

    from energyleaf.users.tests.factories import TEST_PASSWORD
    from sensors.services.tokens import TokenIssue

    _watch.secret(settings.SECRET_KEY, "DJANGO_SECRET_KEY")
    _watch.secret(getattr(settings, "ENERGYLEAF_CRON_SECRET", ""), "the cron secret")
    _watch.secret(getattr(settings, "ENERGYLEAF_ML_API_KEY", ""), "the ML API key")
    _watch.secret(getattr(settings, "EMAIL_HOST_PASSWORD", ""), "the SMTP password")
    _watch.secret(TEST_PASSWORD, "a password")

    _wrap(
        TokenIssue,
        "__init__",
        lambda args, kwargs, _: _watch.secret(
            kwargs.get("access_token", args[2] if len(args) > 2 else ""), "a sensor token"
        ),
    )
    _wrap(
        signing.Signer,
        "sign",
        # the signature: what makes a signed value (an unsubscribe link) usable
        lambda args, kwargs, result: _watch.secret(str(result).rsplit(":", 1)[-1], "a signature"),
    )

    _attach()


def _attach() -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        if handler is not _watch and handler not in _saved_handler_levels:
            _saved_handler_levels[handler] = handler.level
            handler.setLevel(max(handler.level, root.level))
    if _watch not in root.handlers:
        root.addHandler(_watch)
    for name in WATCHED_LOGGERS:
        logger = logging.getLogger(name)
        _saved_levels.setdefault(name, logger.level)
        logger.setLevel(logging.DEBUG)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _restore:
        return
    _watch.current_test = item.nodeid
    # Logging set up again by a test (Django's or Celery's configuration) drops the handler.
    if _watch not in logging.getLogger().handlers:
        _watch.reattached.append(item.nodeid)
    _attach()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _restore:
        return
    logging.getLogger().removeHandler(_watch)
    for name, level in _saved_levels.items():
        logging.getLogger(name).setLevel(level)
    for handler, level in _saved_handler_levels.items():
        handler.setLevel(level)
    for owner, name, original in reversed(_restore):
        setattr(owner, name, original)
    leaks = list(_watch.leaks())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"secret watch: {len(_watch.records)} log records searched for "
            f"{_watch.secrets} known secrets and for JWTs; "
            f"{len(leaks)} leak(s); handler attached again after "
            f"{', '.join(_watch.reattached[:3]) or 'no test'}"
        )
        for leak in leaks[:20]:
            reporter.write_line(f"  LEAK: {leak.kind} in logger {leak.logger!r} during {leak.test}")
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
