"""Atomic sliding-window rate limits in the shared cache, and the client's address.

DRF's SimpleRateThrottle reads a list from the cache, checks it and writes it back: requests
that arrive together all read the same list, and under concurrent load far more than the rate
get through, shared cache or not. Here each request atomically increments the counter of the
current window (`cache.add` + `cache.incr`: SET NX and INCRBY on Redis) and is admitted only if
its own count stays within the rate, after weighing in the previous window's count for the part
of it that still lies within the sliding period. A refused request gives its count back, so
refusals do not lock a client out longer than the rate says.
"""

from __future__ import annotations

import contextlib
import hashlib
import time

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """(requests, period in seconds) from a rate such as `12/min`, `5/s`, `100/hour`."""
    count, period = str(rate).split("/")
    return int(count), _PERIODS[period.strip()[0]]


def rate_limit_hit(*, ident: str, rate: str, now: float | None = None) -> float | None:
    """Count one request of `ident` against `rate`; None when admitted, else the seconds to
    wait. `ident` may be any text (it is hashed for the cache key)."""
    limit, period = rate_parse(rate)
    now = time.time() if now is None else now
    window = int(now // period)
    # Hashed: idents hold client input, and some caches refuse spaces or control characters.
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"throttle:{digest}:{window}"
    cache.add(key, 0, timeout=2 * period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this request opens the window
        cache.add(key, 1, timeout=2 * period + 1)
        count = 1
    previous = int(cache.get(f"throttle:{digest}:{window - 1}", 0))
    remaining_part = 1.0 - (now - window * period) / period
    if count + previous * remaining_part <= limit:
        return None
    with contextlib.suppress(ValueError):
        cache.decr(key)
    return max(1.0, period * remaining_part)  # until this window's count no longer counts


def client_address(request: HttpRequest | Request) -> str:
    """The client's address as DRF's throttles see it: the peer address, or the entry of
    X-Forwarded-For that the configured number of proxies (NUM_PROXIES) appended."""
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]
