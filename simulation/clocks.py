"""Time sources of a simulation: the clients' clock and sleeper, injectable so tests run fast.

`SystemClock` in production, `ScaledClock` (virtual time running faster) and `ManualClock` (time
moves only when told) in tests. Pure Python, no Django.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Time source and sleeper of a simulation; injectable so tests run fast."""

    def time(self) -> float:
        """Wall-clock time in seconds since the Unix epoch (reading times)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (schedules, token lifetimes, backoff)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait `seconds` (or less when `stop` is set); return whether `stop` is set."""
        ...


class SystemClock:
    """Real time; sleeping is an interruptible wait on the stop event (no busy loop)."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


class ScaledClock:
    """Virtual time that runs `speed` times faster than real time, from `start` (epoch seconds).

    Thread-safe; every simulated second lasts `1 / speed` real seconds, including sleeps.
    """

    def __init__(self, speed: float, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._start = time.time() if start is None else start
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self._speed

    def time(self) -> float:
        return self._start + self.monotonic()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds) / self._speed)


class ManualClock:
    """Time that moves only through `advance` or `sleep` (which returns at once).

    Meant for driving one client from the test thread; `time()` is `start + monotonic()`.
    """

    def __init__(self, start: float = 1_720_000_000.0) -> None:
        self._start = start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def time(self) -> float:
        return self._start + self.monotonic()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (negative values are ignored)."""
        with self._lock:
            self._elapsed += max(0.0, seconds)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        if not stop.is_set():
            self.advance(seconds)
        return stop.is_set()
