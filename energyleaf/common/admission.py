"""Admission control for the web workers: at most N requests of a process in the application.

Under gunicorn's gevent workers every connection is a greenlet, and every request that arrives
starts running Django at once. When requests arrive faster than they finish for a moment (10 000
sensors reconnecting after a restart, a burst of first token uses), hundreds of greenlets are
runnable together. A request that holds one of the pool's database connections then waits, after
each round trip to PostgreSQL, behind all of them before it can go on, so it holds the
connection far longer than its own work takes; the pool turns its connections over more slowly,
requests queue for them, and past the pool's timeout they are answered 500 (a sensor does not
send that reading again). Measured with 10 000 sensors on a 2-core machine: 21 % of the readings
of a 5-minute run answered 500, p99 18.6 s (bench/README.md, "The fleet").

`AdmissionLimit` wraps the WSGI application and lets at most `limit` requests into it at once;
the others wait (cheap, not runnable) and are let in strictly in arrival order (`FifoSlots`).
With the limit at the pool's size every admitted request finds a connection at once and runs to
the end without competing with hundreds of others, and a backlog drains at the full rate. A
request that waits longer than `timeout` seconds is answered 503 with Retry-After without
entering the application.

A request body of known length up to `PREREAD_MAX_BYTES` is read in full *before* the request
waits for a slot (and handed to the application from memory): a client that stalls its body
then holds only its own connection, never one of the slots. Larger or chunked bodies are read by
the application inside its slot, as before.

The slot is held until the server closes the response (streamed answers and the database
connection Django returns at `request_finished` included), except for file answers
(`wsgi.file_wrapper`), which are returned to the server unwrapped so that it can still send
them with sendfile: they use no database connection.

Pure WSGI and the standard library: under gevent, `threading` is monkey-patched before the
application is loaded, so the lock and events are gevent's; under threads, the thread ones.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .wsgi_tools import OnClose

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BUSY_BODY = b"The server is busy; try again shortly.\n"
# Bodies read before waiting for a slot: every sensor message and batch upload (20 000 readings
# are well under 1 MiB as protobuf); a larger upload is read inside its slot.
PREREAD_MAX_BYTES = 4 * 1024 * 1024
RETRY_AFTER_S = 15  # a sensor's sending period


class FifoSlots:
    """`limit` slots, handed out strictly in arrival order.

    A released slot goes straight to the request that has waited longest, never to one that
    arrives after it. `threading.Semaphore`, used at first, lets a newcomer take a freed slot
    before the waiter it was meant for wakes up; under load some requests then lose that race
    again and again: with it, 64 connections under gevent saw p99 943 ms against 190 ms without
    any limit.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._free = limit
        self._waiters: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> bool:
        """Whether a slot was obtained within `timeout` seconds."""
        with self._lock:
            if self._free > 0:
                self._free -= 1
                return True
            event = threading.Event()
            self._waiters.append(event)
        if event.wait(timeout):
            return True
        with self._lock:
            try:
                self._waiters.remove(event)
            except ValueError:
                return True  # handed a slot just as the wait ended: it is ours
            return False

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the slot passes on; _free stays 0
            elif self._free >= self._limit:
                raise ValueError("a slot was released more often than taken")
            else:
                self._free += 1


class AdmissionLimit:
    """WSGI middleware: at most `limit` requests in `app` at once (module docstring)."""

    def __init__(self, app: WSGIApp, *, limit: int, timeout: float) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self._slots = FifoSlots(limit)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        _read_body_first(environ)
        if not self._slots.acquire(timeout=self.timeout):
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(BUSY_BODY))),
                    ("Retry-After", str(RETRY_AFTER_S)),
                ],
            )
            return [BUSY_BODY]
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._slots.release()
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            self._slots.release()
            return result
        return OnClose(result, self._slots.release)


def _read_body_first(environ: dict[str, Any]) -> None:
    """Read a body of known, moderate length now and give it to the application from memory."""
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not length.isdigit() or not 0 < int(length) <= PREREAD_MAX_BYTES:
        return
    body = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    # A client that went away mid-body leaves fewer bytes: the application sees what arrived.
    environ["CONTENT_LENGTH"] = str(len(body))


def admission_limited(app: WSGIApp, *, limit: int, timeout: float) -> WSGIApp:
    """`app` behind an AdmissionLimit, or `app` itself when `limit` is 0 (off)."""
    if limit <= 0:
        return app
    return AdmissionLimit(app, limit=limit, timeout=timeout)
