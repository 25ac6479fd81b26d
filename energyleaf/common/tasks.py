"""The retry policy of the Celery tasks that work through the database, in one place.

Every task of the apps is a thin wrapper over an idempotent service; when the database goes away
or refuses for a moment (`DATABASE_ERRORS`), the task is tried again with exponential backoff and
jitter. Results are never stored (state lives in rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar, cast

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

P = ParamSpec("P")
R = TypeVar("R")

DATABASE_ERRORS: Final[tuple[type[Exception], ...]] = (OperationalError, InterfaceError)


def database_task(
    name: str,
    *,
    soft_time_limit: int,
    time_limit: int,
    max_retries: int,
    retry_backoff: int | bool = True,
    also_retry_for: tuple[type[Exception], ...] = (),
    **options: Any,
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """`shared_task` named `name`, result ignored, retried up to `max_retries` times on
    DATABASE_ERRORS (and `also_retry_for`) with exponential backoff from `retry_backoff`
    seconds. `options` go to `shared_task` as they are (`acks_late`, `retry_backoff_max`, ...);
    what is not given keeps Celery's and the settings' defaults."""
    decorator = shared_task(
        name=name,
        ignore_result=True,
        autoretry_for=(*also_retry_for, *DATABASE_ERRORS),
        retry_backoff=retry_backoff,
        max_retries=max_retries,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
        **options,
    )
    return cast(Callable[[Callable[P, R]], Task[P, R]], decorator)
