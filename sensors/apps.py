"""The sensors app, and its deployment check of the sensor endpoints (`check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning

# Cache backends whose counters live inside one process: each web process would count alone,
# and the `/api/v1/token` and login rate limits would be multiplied by the number of processes.
_PER_PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


@register(Tags.security, deploy=True)
def token_throttle_cache_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The token and login rate limits need a cache shared by every web process (Redis,
    Memcached, DB)."""
    backend = str(settings.CACHES.get("default", {}).get("BACKEND", ""))
    if backend not in _PER_PROCESS_CACHES:
        return []
    return [
        CheckWarning(
            f"The default cache ({backend}) is not shared between processes, so every web "
            "process counts the /api/v1/token and login rate limits on its own.",
            hint="Set DJANGO_CACHE_URL to a shared cache, e.g. redis://redis:6379/1.",
            id="sensors.W001",
        )
    ]


class SensorsConfig(AppConfig):
    """Sensors, their tokens and readings; the protobuf wire protocol; ingestion."""

    name = "sensors"
    verbose_name = "Sensors and readings"
