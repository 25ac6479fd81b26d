"""Copying the readings: COPY out of the old database, straight into this one's COPY, chunk by
chunk, each chunk in one transaction with its progress row.

The source query shapes each row as this project stores it (the target sensor's id, the old
values unchanged, the flags of today's plausibility rules, the import time as `received_at`), so
the bytes pass through without being parsed; only the last row of a chunk is read, for its
timestamp. A sensor's old `sensor_id`s are read together, oldest first, so each reading is judged
against the one before it on the same sensor. Two readings of one sensor at the same time (two
old ids overlapping) stop that sensor's copy with a problem line: nothing is dropped silently.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

import psycopg
from django.db import IntegrityError, transaction
from django.db import connection as db_connection

from sensors.compute.planning import PlausibilityConfig
from sensors.models import ReadingFlag
from sensors.services.imported import readings_copy_in
from sensors.services.ingestion import MAX_RATE_PER_MINUTE

from ..models import LegacyReadingProgress
from ..selectors.mapping import reading_progress
from . import source

FLAG_BITS = (
    ReadingFlag.IMPORTED_IMPLAUSIBLE_VALUE,
    ReadingFlag.IMPORTED_IMPLAUSIBLE_POWER,
    ReadingFlag.IMPORTED_IMPLAUSIBLE_OUT,
)


class ReadingProgress(Protocol):
    """Where the copy reports: the number of readings to copy, then each chunk's."""

    def start(self, total: int) -> None: ...

    def advance(self, rows: int) -> None: ...


def plausibility(sensor_type: str) -> source.Plausibility:
    """Today's limits for the sensor type (those the ingestion applies)."""
    defaults = PlausibilityConfig()
    return source.Plausibility(
        max_rate_per_minute=MAX_RATE_PER_MINUTE.get(sensor_type, defaults.max_rate_per_minute),
        max_out_rate_per_minute=defaults.max_out_rate_per_minute,
        min_power_w=defaults.min_power_w,
        max_power_w=defaults.max_power_w,
    )


class _Passing:
    """Passes COPY data through, counting rows and keeping the last one."""

    def __init__(self, copy: Any):
        self.copy = copy
        self.rows = 0
        self.last = b""

    def __iter__(self) -> Iterator[bytes]:
        batch: list[bytes] = []
        size = 0
        for data in self.copy:
            row = bytes(data)
            batch.append(row)
            size += len(row)
            if size >= 1 << 20:
                self.rows += len(batch)
                self.last = batch[-1]
                yield b"".join(batch)
                batch, size = [], 0
        if batch:
            self.rows += len(batch)
            self.last = batch[-1]
            yield b"".join(batch)

    def last_timestamp(self) -> datetime:
        return datetime.fromisoformat(self.last.split(b"\t", 2)[1].decode())


def readings_pending(*, work_sensors: dict[str, int], stats: dict[str, source.IdStats]) -> int:
    """How many readings of the imported old sensor ids are still to be copied."""
    total = sum(stats[old].count for old in work_sensors if old in stats)
    done = sum(reading_progress(sensor_id=pk)[1] for pk in set(work_sensors.values()))
    return max(total - done, 0)


def readings_copy(
    *,
    source_url: str,
    work: Sequence[tuple[int, str, list[str]]],
    stats: dict[str, source.IdStats],
    since: datetime | None,
    chunk_rows: int,
    received_at: datetime,
    progress: ReadingProgress | None,
    jobs: int = 1,
) -> tuple[int, list[str]]:
    """Copy the readings of each (target sensor id, sensor type, old sensor ids) in `work`,
    continuing after what earlier runs copied; `jobs` sensors at a time, each job with its own
    connections to both databases (with one job, in this thread). Returns (readings copied,
    problems)."""
    if progress is not None:
        total = sum(stats[old].count for _pk, _type, olds in work for old in olds if old in stats)
        done = sum(reading_progress(sensor_id=pk)[1] for pk, _type, _olds in work)
        progress.start(max(total - done, 0))
    if jobs <= 1 or len(work) <= 1:
        with source.source_connect(source_url) as conn:
            return _copy_sensors(conn, work, stats, since, chunk_rows, received_at, progress)
    lock = threading.Lock()
    shares = [list(work[index::jobs]) for index in range(jobs)]

    def run(share: list[tuple[int, str, list[str]]]) -> tuple[int, list[str]]:
        try:
            with source.source_connect(source_url) as conn:
                return _copy_sensors(
                    conn, share, stats, since, chunk_rows, received_at, progress, lock
                )
        finally:
            db_connection.close()  # this thread's own Django connection

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run, shares))
    return sum(copied for copied, _ in results), [line for _, lines in results for line in lines]


def _copy_sensors(
    conn: Any,
    work: Sequence[tuple[int, str, list[str]]],
    stats: dict[str, source.IdStats],
    since: datetime | None,
    chunk_rows: int,
    received_at: datetime,
    progress: ReadingProgress | None,
    lock: threading.Lock | None = None,
) -> tuple[int, list[str]]:
    problems: list[str] = []
    copied = 0
    for sensor_id, sensor_type, old_ids in work:
        with_readings = [old for old in old_ids if old in stats and stats[old].count]
        if not with_readings:
            continue
        limits = plausibility(sensor_type)
        while True:
            after, done = reading_progress(sensor_id=sensor_id)
            statement = source.readings_copy_statement(
                sensor_ids=with_readings,
                target_sensor_id=sensor_id,
                after=after,
                since=since,
                limit=chunk_rows,
                received_at=received_at,
                limits=limits,
                flags=FLAG_BITS,
            )
            passing: _Passing | None = None
            try:
                with transaction.atomic(), conn.cursor() as cursor:
                    with cursor.copy(statement) as copy:
                        passing = _Passing(copy)
                        readings_copy_in(chunks=passing)
                    if passing.rows:
                        LegacyReadingProgress.objects.update_or_create(
                            sensor_id=sensor_id,
                            defaults={
                                "copied_until": passing.last_timestamp(),
                                "readings_copied": done + passing.rows,
                            },
                        )
            except (IntegrityError, psycopg.errors.IntegrityError) as exc:
                problems.append(
                    f"sensor {sensor_id}: readings after {after} not copied: two readings at "
                    f"the same time (old sensor ids {', '.join(with_readings)} overlap): "
                    f"{str(exc).splitlines()[0]}"
                )
                break
            rows = passing.rows if passing is not None else 0
            copied += rows
            if progress is not None and rows:
                if lock is None:
                    progress.advance(rows)
                else:
                    with lock:
                        progress.advance(rows)
            if rows < chunk_rows:
                break
    return copied, problems
