"""The raw-socket client helpers refuse what the real devices refuse.

A tiny canned-answer server on loopback plays the server's part, so these tests show that the
end-to-end tests would notice a non-chunked answer, a wrong Content-Type, a closed connection,
or a message split over several chunks (the Tasmota driver decodes only the first).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from .clients import ProtocolViolation, TasmotaDriver, camera_post

pytestmark = pytest.mark.e2e

HEAD = "HTTP/1.1 200 OK\r\nServer: canned\r\n"
CHUNKED_OK = (
    HEAD + "Transfer-Encoding: chunked\r\nContent-Type: application/x-protobuf\r\n\r\n"
).encode()


class CannedServer:
    """Answers each request on a connection with the next canned answer; `close` after it."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        self.answers = list(answers)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(10)
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while self.answers:
                conn, _ = self.listener.accept()
                with conn:
                    conn.settimeout(10)
                    close = False
                    while self.answers and not close:
                        if not self._read_request(conn):
                            break
                        answer, close = self.answers.pop(0)
                        conn.sendall(answer)
                    while not close and conn.recv(65536):
                        pass  # keep the connection open until the client closes it
        except OSError:
            pass

    @staticmethod
    def _read_request(conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            body += conn.recv(65536)
        return True

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def canned() -> Iterator[list[CannedServer]]:
    servers: list[CannedServer] = []
    yield servers
    for server in servers:
        server.close()


def serve(canned: list[CannedServer], *answers: tuple[bytes, bool]) -> CannedServer:
    server = CannedServer(list(answers))
    canned.append(server)
    return server


def test_driver_decodes_only_the_first_chunk_and_reuses_the_connection(canned):
    """A message split over two chunks reaches the driver cut after the first chunk (what the
    real driver decodes); the rest is drained and the kept-alive connection carries the next
    request."""
    split = CHUNKED_OK + b"1\r\n\x08\r\n2\r\n\xc8\x01\r\n0\r\n\r\n"
    whole = CHUNKED_OK + b"3\r\n\x08\xc8\x01\r\n0\r\n\r\n"
    server = serve(canned, (split, False), (whole, False))
    with TasmotaDriver("127.0.0.1", server.port) as driver:
        answer = driver.post("/api/v1/sensor_input", b"")
        assert (answer.first_chunk, answer.drained_chunks) == (b"\x08", (b"\xc8\x01",))
        answer = driver.post("/api/v1/sensor_input", b"")
        assert (answer.first_chunk, answer.drained_chunks) == (b"\x08\xc8\x01", ())
        assert driver.connection.requests == 2


NOT_CHUNKED = (
    HEAD + "Content-Length: 3\r\nContent-Type: application/x-protobuf\r\n\r\n"
).encode() + b"\x08\xc8\x01"
WRONG_TYPE = (
    HEAD + "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n"
).encode() + b"3\r\n\x08\xc8\x01\r\n0\r\n\r\n"
CLOSING = CHUNKED_OK + b"3\r\n\x08\xc8\x01\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("answer", "close"),
    [(NOT_CHUNKED, False), (WRONG_TYPE, False), (CLOSING, True)],
    ids=["not-chunked", "wrong-content-type", "connection-closed"],
)
def test_driver_refuses_what_tasmota_refuses(canned, answer, close):
    """A 2xx answer that is not chunked, not `application/x-protobuf`, or followed by the server
    closing the connection fails the driver helper."""
    server = serve(canned, (answer, close))
    # The grace lets the canned server's FIN arrive: without it the check races the close.
    with (
        TasmotaDriver("127.0.0.1", server.port, close_grace=2.0) as driver,
        pytest.raises(ProtocolViolation),
    ):
        driver.post("/api/v1/token", b"")


def test_camera_needs_the_exact_content_type_line(canned):
    """The camera helper reads the code at characters 10-12 and accepts only a header line
    containing exactly `Content-Type: application/x-protobuf` (a lower-case name fails)."""
    good = (HEAD + "Content-Type: application/x-protobuf\r\nContent-Length: 3\r\n\r\n").encode()
    lower = (HEAD + "content-type: application/x-protobuf\r\nContent-Length: 3\r\n\r\n").encode()
    server = serve(canned, (good + b"\x08\xc8\x01", True), (lower + b"\x08\xc8\x01", True))
    answer = camera_post("127.0.0.1", server.port, "/api/v1/sensor_input", b"")
    assert (answer.status, answer.body) == (200, b"\x08\xc8\x01")
    with pytest.raises(ProtocolViolation):
        camera_post("127.0.0.1", server.port, "/api/v1/sensor_input", b"")
