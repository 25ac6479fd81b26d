"""Celery tasks of analytics: thin wrappers over services (ids and ISO strings in, nothing out)."""

from __future__ import annotations

from collections.abc import Sequence

from kombu.exceptions import OperationalError as BrokerError

from energyleaf.common.tasks import database_task

FANOUT_TASK_NAME = "analytics.detect_sequences_fanout"
SENSOR_TASK_NAME = "analytics.detect_sequences_for_sensor"
SENSORS_TASK_NAME = "analytics.detect_sequences_for_sensors"


@database_task(
    SENSOR_TASK_NAME,
    acks_late=True,  # the service is idempotent: a redelivered window changes nothing
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def detect_sequences_for_sensor_task(
    sensor_id: int, window_start: str, kinds: Sequence[str] | None = None
) -> None:
    """Detect and store one sensor's peaks/anomalies in the half hour from `window_start` (ISO,
    UTC), reading its 24.5 h afresh; the service records the audit event. The fan-out sends
    chunks (`detect_sequences_for_sensors_task`); this one serves single runs and messages
    sent before."""
    from datetime import datetime

    from .services.detection import ALL_KINDS, WINDOW, sequences_detect_window

    start = datetime.fromisoformat(window_start)
    sequences_detect_window(
        sensor_id=sensor_id,
        window_start=start,
        window_end=start + WINDOW,
        kinds=tuple(kinds) if kinds else ALL_KINDS,
    )


@database_task(
    SENSORS_TASK_NAME,
    acks_late=True,  # the service is idempotent: a redelivered window changes nothing
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=600,
    time_limit=660,
)
def detect_sequences_for_sensors_task(
    sensor_ids: Sequence[int], window_start: str, kinds: Sequence[str] | None = None
) -> int:
    """Detect and store the peaks/anomalies of a chunk of sensors in the half hour from
    `window_start` (ISO, UTC), with the readings kept between runs; returns how many sequences
    were detected. The service records the audit events."""
    from datetime import datetime

    from .services.detection import ALL_KINDS, WINDOW, sequences_detect_window_many

    start = datetime.fromisoformat(window_start)
    batch = sequences_detect_window_many(
        sensor_ids=list(sensor_ids),
        window_start=start,
        window_end=start + WINDOW,
        kinds=tuple(kinds) if kinds else ALL_KINDS,
    )
    return sum(result.detected for result in batch.results)


@database_task(
    FANOUT_TASK_NAME,
    # BrokerError: the broker went away half-way; a retry (or the next scheduled run, which
    # catches up missed windows) sends the rest again, and re-sent windows change nothing.
    also_retry_for=(BrokerError,),
    retry_backoff=5,
    max_retries=3,
    soft_time_limit=120,
    time_limit=180,
)
def detect_sequences_fanout_task(
    kinds: Sequence[str] | None = None, window_start: str | None = None
) -> int:
    """Enqueue one detection task per chunk of assigned electricity sensors for the half hour
    that just ended and any windows earlier scheduled runs missed (or only the one starting at
    `window_start`, ISO); returns how many were enqueued."""
    from datetime import datetime

    from .services.detection import ALL_KINDS, sequences_detect_fanout

    return sequences_detect_fanout(
        kinds=tuple(kinds) if kinds else ALL_KINDS,
        window_start=datetime.fromisoformat(window_start) if window_start else None,
    )


SUGGEST_TASK_NAME = "analytics.suggest_devices"


@database_task(
    SUGGEST_TASK_NAME,
    acks_late=True,  # suggestions of a peak and model are replaced: a redelivery is harmless
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=120,
    time_limit=180,
)
def suggest_devices_task(sequence_ids: Sequence[int]) -> int:
    """Suggest device categories for these new or grown peaks; returns how many got them."""
    from .services.suggestions import suggestions_make

    return suggestions_make(sequence_ids=sequence_ids)


SUGGEST_CATCH_UP_TASK_NAME = "analytics.suggest_devices_catch_up"


@database_task(
    SUGGEST_CATCH_UP_TASK_NAME,
    retry_backoff=5,
    max_retries=3,
    soft_time_limit=120,
    time_limit=180,
)
def suggest_devices_catch_up_task() -> int:
    """Enqueue suggestions for recent peaks whose suggestions are missing or stale."""
    from django.utils import timezone

    from .services.suggestions import suggestions_catch_up

    return suggestions_catch_up(now=timezone.now())


@database_task(
    "analytics.refresh_rollups",
    acks_late=True,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=280,
)
def refresh_rollups_task() -> int:
    """Fold newly received (and late) readings into the rollups; idempotent, so re-delivery and
    overlapping runs are harmless. Returns the number of buckets rewritten."""
    from .services.rollups import rollups_refresh

    return rollups_refresh().buckets
