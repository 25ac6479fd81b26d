"""The web workers' admission limit (energyleaf/common/admission.py), with real threads.

Under gevent the same code runs with gevent's locks and events (threading is monkey-patched); the
end-to-end sensor tests run it behind gunicorn's gevent workers on PostgreSQL.
"""

from __future__ import annotations

import gc
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from energyleaf.common.admission import (
    BUSY_BODY,
    PREREAD_MAX_BYTES,
    AdmissionLimit,
    FifoSlots,
    admission_limited,
)


class Recorder:
    """A WSGI app that holds each request until released, counting how many are inside."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.order: list[int] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.order.append(environ["n"])
        self.gate.wait(5)
        with self.lock:
            self.inside -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def call(app: Any, n: int, answers: dict[int, tuple[str, bytes]]) -> None:
    status: list[str] = []
    result = app({"n": n}, lambda s, headers: status.append(s))
    body = b"".join(result)
    close = getattr(result, "close", None)
    if close is not None:
        close()
    answers[n] = (status[0], body)


def test_at_most_limit_requests_inside_and_all_answered() -> None:
    inner = Recorder()
    app = AdmissionLimit(inner, limit=3, timeout=10)
    answers: dict[int, tuple[str, bytes]] = {}
    threads = [threading.Thread(target=call, args=(app, n, answers)) for n in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert inner.inside == 3  # the other nine wait outside
    inner.gate.set()
    for thread in threads:
        thread.join(10)
    assert inner.most_inside == 3
    assert sorted(answers) == list(range(12))
    assert {status for status, _ in answers.values()} == {"200 OK"}


def test_a_slot_is_held_until_the_server_closes_the_response() -> None:
    closed: list[bool] = []

    class Streamed:
        def __iter__(self) -> Any:
            return iter([b"a", b"b"])

        def close(self) -> None:
            closed.append(True)

    def streaming(environ: dict[str, Any], start_response: Any) -> Streamed:
        start_response("200 OK", [])
        return Streamed()

    app = AdmissionLimit(streaming, limit=1, timeout=0.2)
    first = app({}, lambda *a: None)
    assert b"".join(first) == b"ab"
    statuses: list[str] = []
    second = app({}, lambda status, headers: statuses.append(status))
    assert statuses == ["503 Service Unavailable"]  # the first still holds the only slot
    assert b"".join(second) == BUSY_BODY
    first.close()  # type: ignore[attr-defined]
    first.close()  # type: ignore[attr-defined]  # a second close releases nothing more
    assert closed == [True, True]
    statuses.clear()
    third = app({}, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"]
    third.close()  # type: ignore[attr-defined]
    # A release more often than taken raises ValueError (test_slots_refuse_an_extra_release).


def test_timeout_answers_503_with_retry_after_without_entering() -> None:
    inner = Recorder()
    app = AdmissionLimit(inner, limit=1, timeout=0.2)
    answers: dict[int, tuple[str, bytes]] = {}
    holder = threading.Thread(target=call, args=(app, 0, answers))
    holder.start()
    time.sleep(0.1)
    headers: list[Any] = []
    result = app({"n": 1}, lambda status, h: headers.append((status, dict(h))))
    status, fields = headers[0]
    assert status == "503 Service Unavailable"
    assert fields["Retry-After"] == "15"
    assert int(fields["Content-Length"]) == len(BUSY_BODY) == len(b"".join(result))
    assert inner.order == [0]  # the refused request never reached the application
    inner.gate.set()
    holder.join(5)
    assert answers[0][0] == "200 OK"


def test_slots_go_to_waiters_in_arrival_order_and_newcomers_queue_behind() -> None:
    slots = FifoSlots(1)
    assert slots.acquire(timeout=0)
    entered: list[int] = []
    lock = threading.Lock()

    def wait(n: int) -> None:
        assert slots.acquire(timeout=10)
        with lock:
            entered.append(n)
        slots.release()

    threads = []
    for n in range(8):
        thread = threading.Thread(target=wait, args=(n,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # arrival order 0, 1, 2, ...
    slots.release()  # to waiter 0, which passes it on to 1, ...
    # A newcomer while they are served never gets ahead of a waiter: it waits its turn.
    late = threading.Thread(target=wait, args=(99,))
    late.start()
    for thread in [*threads, late]:
        thread.join(10)
    assert entered == [*range(8), 99]
    assert slots.acquire(timeout=0)  # all slots back


def test_a_waiter_that_times_out_leaves_the_queue() -> None:
    slots = FifoSlots(1)
    assert slots.acquire(timeout=0)
    assert not slots.acquire(timeout=0.05)
    slots.release()
    assert slots.acquire(timeout=0)  # the freed slot was not handed to the gone waiter
    slots.release()


def test_slots_refuse_an_extra_release() -> None:
    slots = FifoSlots(2)
    with pytest.raises(ValueError, match="more often"):
        slots.release()


def test_a_stalled_body_is_read_outside_the_slots() -> None:
    """A client that sends its headers and stalls its body holds no slot: with one slot, a
    second request is answered while the first body is still missing."""
    body_arrives = threading.Event()

    class StalledInput:
        def read(self, size: int = -1) -> bytes:
            body_arrives.wait(5)
            return b"late body"

    seen: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("200 OK", [])
        return [b"ok"]

    limited = AdmissionLimit(app, limit=1, timeout=0.5)
    stalled = {"CONTENT_LENGTH": "9", "wsgi.input": StalledInput()}
    answers: list[str] = []
    first = threading.Thread(
        target=lambda: b"".join(limited(stalled, lambda s, h: answers.append(s)))
    )
    first.start()
    time.sleep(0.1)
    quick = {"CONTENT_LENGTH": "5", "wsgi.input": io.BytesIO(b"hello")}
    statuses: list[str] = []
    result = limited(quick, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"]  # not a 503: the stalled request holds no slot
    result.close()  # type: ignore[attr-defined]
    body_arrives.set()
    first.join(5)
    assert answers == ["200 OK"]
    assert seen == [b"hello", b"late body"]


def test_large_and_chunked_bodies_are_left_to_the_application() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"])
        start_response("200 OK", [])
        return []

    limited = AdmissionLimit(app, limit=1, timeout=1)
    large, chunked = io.BytesIO(b"x"), io.BytesIO(b"y")
    for environ in (
        {"CONTENT_LENGTH": str(PREREAD_MAX_BYTES + 1), "wsgi.input": large},
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": chunked},
    ):
        limited(environ, lambda *a: None).close()  # type: ignore[attr-defined]
    assert seen == [large, chunked]  # the same streams, unread


def test_an_exception_in_the_application_frees_its_slot() -> None:
    def failing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    app = AdmissionLimit(failing, limit=1, timeout=0.1)
    for _ in range(3):  # with a leaked slot the second call would time out with a 503
        with pytest.raises(RuntimeError):
            app({}, lambda *a: None)


def test_file_answers_go_back_unwrapped_and_free_the_slot() -> None:
    class FileWrapper:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def __iter__(self) -> Any:
            return iter([self.data])

    def files(environ: dict[str, Any], start_response: Any) -> FileWrapper:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](b"file")

    app = AdmissionLimit(files, limit=1, timeout=0.1)
    environ = {"wsgi.file_wrapper": FileWrapper}
    first = app(environ, lambda *a: None)
    assert isinstance(first, FileWrapper)  # the server can still use sendfile
    second = app(environ, lambda *a: None)  # not a 503: the slot is free again
    assert isinstance(second, FileWrapper)


def test_limit_zero_is_the_application_itself() -> None:
    inner = Recorder()
    assert admission_limited(inner, limit=0, timeout=1) is inner
    with pytest.raises(ValueError, match="at least 1"):
        AdmissionLimit(inner, limit=0, timeout=1)


@pytest.mark.parametrize(
    ("database_url", "variables", "expected"),
    [
        ("sqlite:////tmp/energyleaf-admission-probe.sqlite3", {}, 0),  # no pool: off
        ("postgres://u@h:5432/x", {"DJANGO_DB_POOL_MAX_SIZE": "16"}, 16),  # the pool's size
        ("postgres://u@h:5432/x", {"DJANGO_DB_POOL_MAX_SIZE": "0"}, 0),
        ("postgres://u@h:5432/x", {}, 0),
        (
            "postgres://u@h:5432/x",
            {"DJANGO_DB_POOL_MAX_SIZE": "16", "ENERGYLEAF_WEB_ADMISSION_LIMIT": "24"},
            24,
        ),
        (
            "postgres://u@h:5432/x",
            {"DJANGO_DB_POOL_MAX_SIZE": "16", "ENERGYLEAF_WEB_ADMISSION_LIMIT": "0"},
            0,
        ),
        (
            "postgres://u@h:5432/x",
            {"DJANGO_DB_POOL_MAX_SIZE": "16", "ENERGYLEAF_WEB_ADMISSION_LIMIT": " "},
            16,
        ),
    ],
)
def test_limit_setting(
    tmp_path: Path, database_url: str, variables: dict[str, str], expected: int
) -> None:
    from energyleaf.tests.test_settings import _run

    env = {"DJANGO_SECRET_KEY": "x" * 50, "ENERGYLEAF_VAR_DIR": str(tmp_path)}
    env |= {"DATABASE_URL": database_url, **variables}
    result = _run(env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["admission_limit"] == expected


@override_settings(WEB_ADMISSION_LIMIT=2, WEB_ADMISSION_TIMEOUT=5.0)
def test_the_wsgi_entry_point_is_limited_as_configured() -> None:
    import importlib

    import energyleaf.wsgi
    from energyleaf.common.corked import Corked

    threshold = gc.get_threshold()
    try:
        module = importlib.reload(energyleaf.wsgi)
    finally:  # the module tunes the collector for a web worker; not for this test process
        gc.unfreeze()
        gc.set_threshold(*threshold)
    assert isinstance(module.application, Corked)
    limited = module.application.app
    assert isinstance(limited, AdmissionLimit)
    assert (limited.limit, limited.timeout) == (2, 5.0)
