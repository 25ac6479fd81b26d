"""Raw-socket HTTP/1.1 clients that talk to the server the way the sensors in the field do.

No HTTP library is used: the point is to see exactly the bytes a device sees (docs/protocol.md,
"The clients in the field"). `HttpConnection` is one kept-alive TCP connection that reads answers
byte by byte; `TasmotaDriver` adds what the Tasmota driver requires of an answer ("Tasmota
driver"), `camera_post` what the analog ESP32 camera requires ("Analog camera"). Any answer the
real client would refuse raises `ProtocolViolation`.

The `*_answer` helpers build expected answer bodies by hand from the field tables
(docs/protocol.md, "Messages" and "Byte examples"), independently of the server's encoder, so the
tests compare exact bytes.
"""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass
from types import TracebackType

PROTOBUF = "application/x-protobuf"
CRLF = b"\r\n"

# The largest encoded answers the Tasmota driver accepts (nanopb `*_size`): a string with a
# buffer of N bytes takes at most tag + 2-byte length + N - 1 bytes, a uint32 tag + 5 bytes.
TOKEN_RESPONSE_MAX_SIZE = (1 + 1 + 44) + 6 + 6 + (1 + 2 + 254) + (1 + 2 + 665) + 6
SENSOR_DATA_RESPONSE_MAX_SIZE = 6 + (1 + 2 + 254)


class ProtocolViolation(AssertionError):  # noqa: N818 - reads as what happened
    """The server answered in a way the real client would refuse."""


# --- expected answer bytes, built by hand -------------------------------------------------------


def varint(value: int) -> bytes:
    """The protobuf base-128 varint encoding of a non-negative integer."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _text_field(number: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return bytes([number << 3 | 2]) + varint(len(data)) + data


def status_answer(status: int, message: str | None = None) -> bytes:
    """SensorDataResponse / ScriptAcceptedResponse / batch error: status #1, status_message #2."""
    body = b"\x08" + varint(status)
    return body if message is None else body + _text_field(2, message)


def token_answer(token: str, *, script: str | None = None, rotations: int | None = None) -> bytes:
    """A successful TokenResponse: access_token #1, expires_in #2 = 3600, status #3 = 200, then
    script #5 or analog_rotation_per_kwh #6."""
    body = _text_field(1, token) + b"\x10\x90\x1c" + b"\x18\xc8\x01"
    if script is not None:
        body += _text_field(5, script)
    if rotations is not None:
        body += b"\x30" + varint(rotations)
    return body


def token_error_answer(status: int, message: str) -> bytes:
    """A refused TokenResponse: status #3, status_message #4."""
    return b"\x18" + varint(status) + _text_field(4, message)


# --- one HTTP/1.1 connection --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as received. `chunks` holds the data of every chunk (None: not chunked)."""

    status_line: str
    status: int
    header_lines: tuple[str, ...]
    chunks: tuple[bytes, ...] | None
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called `name` (any letter case), or None."""
        wanted = name.lower()
        for line in self.header_lines:
            key, _, value = line.partition(":")
            if key.strip().lower() == wanted:
                return value.strip()
        return None

    @property
    def chunked(self) -> bool:
        return (self.header("Transfer-Encoding") or "").lower() == "chunked"


class HttpConnection:
    """One HTTP/1.1 connection over a plain TCP socket, kept alive between requests."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.local_address = self.sock.getsockname()
        self.requests = 0
        self._buffer = bytearray()

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- writing

    def send(
        self, method: str, path: str, body: bytes = b"", headers: tuple[str, ...] = ()
    ) -> None:
        """Send one request on this connection (which must still be open)."""
        if self.requests and not self.is_open():
            raise ProtocolViolation("the server closed the kept-alive connection")
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", *headers]
        if method == "POST" or body:
            head.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body)
        self.requests += 1

    # -- reading

    def _fill(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ProtocolViolation("the server closed the connection in the middle of an answer")
        self._buffer += data

    def read_line(self) -> bytes:
        """One line up to CRLF (not included)."""
        while (end := self._buffer.find(CRLF)) < 0:
            self._fill()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read_head(self) -> tuple[str, int, tuple[str, ...]]:
        """Status line, status code and header lines of the next answer."""
        status_line = self.read_line().decode("latin-1")
        lines = []
        while line := self.read_line():
            lines.append(line.decode("latin-1"))
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolViolation(f"not an HTTP/1.x status line: {status_line!r}")
        return status_line, int(parts[1]), tuple(lines)

    def read_chunk(self) -> bytes | None:
        """One chunk (size line, data, CRLF); None for the last chunk `0` and its empty trailer."""
        size_line = self.read_line()
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            if self.read_line() != b"":
                raise ProtocolViolation("unexpected trailer after the last chunk")
            return None
        data = self.read_exact(size)
        if self.read_exact(2) != CRLF:
            raise ProtocolViolation("chunk data not followed by CRLF")
        return data

    def read_body(
        self, header_lines: tuple[str, ...], status: int
    ) -> tuple[tuple[bytes, ...] | None, bytes]:
        """The whole body of an answer: (chunks or None, body)."""
        probe = Answer("", status, header_lines, None, b"")
        if probe.chunked:
            chunks = []
            while (chunk := self.read_chunk()) is not None:
                chunks.append(chunk)
            return tuple(chunks), b"".join(chunks)
        length = probe.header("Content-Length")
        if length is not None:
            return None, self.read_exact(int(length))
        if status in (204, 304) or 100 <= status < 200:
            return None, b""
        raise ProtocolViolation("answer without Content-Length or chunked framing")

    def request(
        self, method: str, path: str, body: bytes = b"", headers: tuple[str, ...] = ()
    ) -> Answer:
        """Send a request and read its whole answer."""
        self.send(method, path, body, headers)
        status_line, status, lines = self.read_head()
        chunks, data = self.read_body(lines, status)
        return Answer(status_line, status, lines, chunks, data)

    def is_open(self, grace: float = 0.0) -> bool:
        """Whether the server still keeps this connection open (no FIN received within
        `grace` seconds).

        Bytes the server sent beyond the answers read so far are a protocol violation.
        """
        if self._buffer:
            raise ProtocolViolation(f"unexpected bytes after the answer: {bytes(self._buffer)!r}")
        readable, _, _ = select.select([self.sock], [], [], grace)
        if not readable:
            return True
        try:
            peeked = self.sock.recv(1, socket.MSG_PEEK)
        except ConnectionError:
            return False
        if peeked:
            raise ProtocolViolation("the server sent bytes nobody asked for")
        return False


# --- the Tasmota driver (docs/protocol.md, "Tasmota driver") ----------------------------------


@dataclass(frozen=True, slots=True)
class DriverAnswer:
    """What the driver got: the status and the first chunk it decodes, plus what we drained."""

    status: int
    first_chunk: bytes
    drained_chunks: tuple[bytes, ...]
    answer: Answer


class TasmotaDriver:
    """The Energyleaf Tasmota driver's HTTP behaviour on one kept-alive connection.

    Each POST carries the driver's headers; the driver accepts a 2xx answer only when it is
    `Transfer-Encoding: chunked` with `Content-Type: application/x-protobuf` on a connection that
    stays open, and decodes only the first chunk. The rest of the body (the `0` chunk) is drained
    here so that the next request can reuse the connection, as the ESP8266 HTTPClient does.
    """

    USER_AGENT = "Energyleaf-Sensor-Digital"

    def __init__(self, host: str, port: int, close_grace: float = 0.0) -> None:
        """`close_grace`: how long to wait for a FIN after each answer before calling the
        connection open (0 checks only what has already arrived)."""
        self.connection = HttpConnection(host, port)
        self.close_grace = close_grace

    def __enter__(self) -> TasmotaDriver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.connection.close()

    def post(self, path: str, body: bytes) -> DriverAnswer:
        conn = self.connection
        conn.send(
            "POST",
            path,
            body,
            headers=(
                f"User-Agent: {self.USER_AGENT}",
                "Connection: keep-alive",
                "Accept-Encoding: identity;q=1,chunked;q=0.1,*;q=0",
                f"Content-Type: {PROTOBUF}",
            ),
        )
        status_line, status, lines = conn.read_head()
        head = Answer(status_line, status, lines, None, b"")
        if 200 <= status < 300:
            if not head.chunked:
                raise ProtocolViolation(f"2xx answer to {path} is not chunked: {lines}")
            if head.header("Content-Type") != PROTOBUF:
                raise ProtocolViolation(f"2xx answer to {path} is not {PROTOBUF}: {lines}")
        if head.chunked:
            first = conn.read_chunk() or b""  # the driver's chunk parser stops after this one
            drained = []
            if first:
                while (chunk := conn.read_chunk()) is not None:
                    drained.append(chunk)
        else:
            _, first = conn.read_body(lines, status)
            drained = []
        closing = (head.header("Connection") or "").lower() == "close"
        if closing or not conn.is_open(self.close_grace):
            raise ProtocolViolation(f"the server closed the connection after {path}")
        answer = Answer(status_line, status, lines, (first, *drained), first + b"".join(drained))
        return DriverAnswer(status, first, tuple(drained), answer)


# --- the analog ESP32 camera (docs/protocol.md, "Analog camera") ------------------------------


@dataclass(frozen=True, slots=True)
class CameraAnswer:
    """The status code as the camera reads it (characters 10-12) and the body it parsed."""

    status: int
    body: bytes
    answer: Answer


def camera_post(host: str, port: int, path: str, body: bytes) -> CameraAnswer:
    """One request as the analog camera's WebSender sends it, parsed the way it parses.

    It needs `HTTP/1.1` in the status line with the code at characters 10-12, a header line
    containing exactly `Content-Type: application/x-protobuf` (case-sensitive), and a
    `Content-Length:` of at most three digits or `Transfer-Encoding: chunked`.
    """
    with HttpConnection(host, port) as conn:
        conn.send(
            "POST",
            path,
            body,
            headers=(f"Content-Type: {PROTOBUF}", "Connection: close"),
        )
        status_line, status, lines = conn.read_head()
        if "HTTP/1.1" not in status_line:
            raise ProtocolViolation(f"status line without HTTP/1.1: {status_line!r}")
        code = int(status_line[9:12])
        if not any(f"Content-Type: {PROTOBUF}" in line for line in lines):
            raise ProtocolViolation(f"no header line with 'Content-Type: {PROTOBUF}': {lines}")
        length_lines = [line for line in lines if line.startswith("Content-Length:")]
        if length_lines:
            digits = length_lines[0].removeprefix("Content-Length:").strip()
            if len(digits) > 3:
                raise ProtocolViolation(f"Content-Length too long for the camera: {digits}")
            data = conn.read_exact(int(digits))
            chunks = None
        elif any("Transfer-Encoding: chunked" in line for line in lines):
            chunks, data = conn.read_body(lines, status)
        else:
            raise ProtocolViolation(f"neither Content-Length nor chunked: {lines}")
    return CameraAnswer(code, data, Answer(status_line, status, lines, chunks, data))
