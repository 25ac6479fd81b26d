"""Small pieces shared by the project's WSGI middleware (admission.py, corked.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class OnClose:
    """A response iterable that runs `callback` once, after the wrapped response is closed.

    The server closes the response after it has written the last byte (PEP 3333), also when
    the client went away; a second close runs nothing more.
    """

    def __init__(self, result: Iterable[bytes], callback: Callable[[], object]) -> None:
        self._result = result
        self._callback: Callable[[], object] | None = callback

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            callback, self._callback = self._callback, None
            if callback is not None:
                callback()
