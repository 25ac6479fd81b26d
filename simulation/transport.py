"""HTTP plumbing of a simulated device: one kept-alive HTTP/1.1 connection per client
(`http.client`), reconnect when the server closed an idle connection, chunked answers, and a
short backoff after connection errors.

Pure Python, no Django.
"""

from __future__ import annotations

import http.client
import math
import select
import socket
import ssl
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from simulation.clocks import Clock
from simulation.protocol import BATCH_MAX_HEADER

BACKOFF_BASE_S: Final = 0.5
BACKOFF_MAX_S: Final = 5.0


class TransportError(Exception):
    """A request got no HTTP answer.

    `request_sent` tells whether the whole request had been written, i.e. whether the server may
    have processed it although no answer arrived.
    """

    def __init__(self, reason: str, *, request_sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_sent = request_sent


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP answer as a device sees it.

    `extra_chunks` is a best-effort check: the body came in more than one chunk (the Tasmota
    driver reads only the first one).
    """

    status: int
    body: bytes
    chunked: bool
    extra_chunks: bool
    content_type: str
    batch_max: int | None = None
    """The server's advertised batch limit (`X-Energyleaf-Batch-Max`), if any."""


def _peer_closed(sock: socket.socket) -> bool:
    """Tell whether an idle kept-alive socket became readable, i.e. the server closed it (or
    sent something unasked); such a connection must not be reused."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class HttpTransport:
    """One kept-alive HTTP/1.1 connection to the server, like a device's HTTP client.

    Before reusing an idle connection it checks whether the server closed it (as the ESP8266
    HTTPClient does) and then opens a new one; requests are never repeated behind the caller's
    back. After a connection error, new connection attempts wait a short exponential backoff
    (`BACKOFF_BASE_S` doubling up to `BACKOFF_MAX_S`, on the injected clock); `backing_off()`
    tells callers to skip the attempt. Not thread-safe: one transport per client thread.
    """

    def __init__(
        self,
        base_url: str,
        *,
        clock: Clock,
        timeout: float = 30.0,
        user_agent: str = "Energyleaf-Simulator",
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._clock = clock
        self._timeout = timeout
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": user_agent}
        self._connection: http.client.HTTPConnection | None = None
        self._failures = 0
        self._retry_at = -math.inf
        self.connects = 0
        """Connections opened so far."""

    def backing_off(self) -> bool:
        """True while connection attempts wait after a connection error."""
        return self._connection is None and self._clock.monotonic() < self._retry_at

    def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _fail(self) -> None:
        self.close()
        self._failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(self._failures - 1, 16))
        self._retry_at = self._clock.monotonic() + delay

    def _connect(self) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is not None:
            sock = connection.sock
            if sock is None or _peer_closed(sock):
                self.close()
                connection = None
        if connection is None:
            if self.backing_off():
                raise TransportError("backoff", request_sent=False)
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._timeout,
                    context=ssl.create_default_context(),
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            try:
                connection.connect()
            except OSError as exc:
                connection.close()
                self._fail()
                raise TransportError(f"connect: {type(exc).__name__}", request_sent=False) from exc
            self._connection = connection
            self.connects += 1
        return connection

    def post(self, path: str, body: bytes) -> HttpAnswer:
        """POST `body` to `path` (below the base URL's path) and read the whole answer.

        Raises TransportError when no complete HTTP answer arrives.
        """
        connection = self._connect()
        try:
            connection.request("POST", self._prefix + path, body=body, headers=self._headers)
        except (OSError, http.client.HTTPException) as exc:
            self._fail()
            raise TransportError(f"send: {type(exc).__name__}", request_sent=False) from exc
        try:
            response = connection.getresponse()
            chunked = "chunked" in (response.getheader("Transfer-Encoding") or "").lower()
            if chunked:
                first = response.read1()
                rest = response.read()
                payload, extra_chunks = first + rest, bool(rest)
            else:
                payload, extra_chunks = response.read(), False
        except (OSError, http.client.HTTPException) as exc:
            self._fail()
            raise TransportError(f"receive: {type(exc).__name__}", request_sent=True) from exc
        self._failures = 0
        if response.will_close:
            self.close()
        batch_max = (response.getheader(BATCH_MAX_HEADER) or "").strip()
        return HttpAnswer(
            status=response.status,
            body=payload,
            chunked=chunked,
            extra_chunks=extra_chunks,
            content_type=response.getheader("Content-Type") or "",
            batch_max=int(batch_max) if batch_max.isdigit() and int(batch_max) > 0 else None,
        )
