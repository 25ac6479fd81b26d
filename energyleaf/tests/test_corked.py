"""Answers in one TCP segment (energyleaf/common/corked.py): the option is really set on a real
socket while the application answers and cleared when the server closes the response."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from energyleaf.common.corked import TCP_CORK, Corked

pytestmark = pytest.mark.skipif(TCP_CORK is None, reason="TCP_CORK is Linux only")


@pytest.fixture
def connected() -> Iterator[socket.socket]:
    """The server side of a real loopback TCP connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    yield server
    for sock in (server, client, listener):
        sock.close()


def corked(sock: socket.socket) -> int:
    assert TCP_CORK is not None
    return sock.getsockopt(socket.IPPROTO_TCP, TCP_CORK)


def test_corked_while_answering_and_uncorked_when_closed(connected: socket.socket) -> None:
    seen: list[int] = []
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            seen.append(corked(connected))  # while the server writes
            return iter([b"answer"])

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        seen.append(corked(connected))  # while the application runs
        start_response("200 OK", [])
        return Body()

    result = Corked(app)({"gunicorn.socket": connected}, lambda *a: None)
    assert b"".join(result) == b"answer"
    assert seen == [1, 1]
    result.close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert corked(connected) == 0
    result.close()  # type: ignore[attr-defined]  # a second close changes nothing
    assert closed == [True, True]


def test_an_exception_uncorks(connected: socket.socket) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Corked(app)({"gunicorn.socket": connected}, lambda *a: None)
    assert corked(connected) == 0


def test_file_answers_are_returned_unwrapped_and_uncorked(connected: socket.socket) -> None:
    class FileWrapper:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"file"])

    def app(environ: dict[str, Any], start_response: Any) -> FileWrapper:
        return environ["wsgi.file_wrapper"]()

    environ = {"gunicorn.socket": connected, "wsgi.file_wrapper": FileWrapper}
    result = Corked(app)(environ, lambda *a: None)
    assert isinstance(result, FileWrapper)  # gunicorn can still use sendfile
    assert corked(connected) == 0


def test_without_a_socket_the_application_is_called_as_it_is() -> None:
    body = [b"x"]

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return body

    assert Corked(app)({}, lambda *a: None) is body
    unix_a, unix_b = socket.socketpair()  # TCP_CORK cannot be set on a Unix socket
    try:
        assert Corked(app)({"gunicorn.socket": unix_a}, lambda *a: None) is body
    finally:
        unix_a.close()
        unix_b.close()
