"""Writes of the research dataset exports: creating export jobs, running them, cleaning up.

A job writes into EXPORTS_ROOT/job-<id>/: `readings.csv.gz`, `sequences.csv.gz` (as included),
`households.csv.gz` (each household's study arm and covariates), the Parquet edition of each
(`readings.parquet`, …: the same rows and values, typed, made from the CSV file in row groups)
and `manifest.json` (columns with units and types, UTC, row counts, SHA-256 of every file, the
parameters, the code version). Every file is written under a temporary name and renamed into
place, so a reader never sees half a file. gzip headers carry no time or name, Parquet files
none either, and the manifest's `created` is the job's request time: running a job again writes
the same bytes (same checksums, with the same pyarrow version), never duplicates. A worker
killed mid-job leaves the job `running`; Celery hands the message out again (acks_late,
reject_on_worker_lost) or the clean-up re-queues it, and the run starts over.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import Household, User
from exports.compute.csv import csv_lines, format_timestamp
from exports.compute.parquet import COMPRESSION, parquet_from_csv
from exports.models import ExportJob
from exports.selectors import dataset
from exports.services.pseudonyms import pseudonym_key, pseudonym_key_id
from exports.tasks import run_export_job_task

logger = logging.getLogger(__name__)

READINGS_FILE = "readings.csv.gz"
SEQUENCES_FILE = "sequences.csv.gz"
HOUSEHOLDS_FILE = "households.csv.gz"
MANIFEST_FILE = "manifest.json"
CSV_SUFFIX = ".csv.gz"
PARQUET_SUFFIX = ".parquet"


def parquet_name(csv_name: str) -> str:
    """The Parquet edition's file name of a CSV file (`readings.csv.gz` → `readings.parquet`)."""
    return csv_name.removesuffix(CSV_SUFFIX) + PARQUET_SUFFIX


DATASET_FILES = (
    READINGS_FILE,
    parquet_name(READINGS_FILE),
    SEQUENCES_FILE,
    parquet_name(SEQUENCES_FILE),
    HOUSEHOLDS_FILE,
    parquet_name(HOUSEHOLDS_FILE),
    MANIFEST_FILE,
)
ROW_GROUP_ROWS = 100_000  # rows per Parquet row group (one reading slice's worth)
MAX_ATTEMPTS = 3
PROGRESS_EVERY_ROWS = 100_000
GZIP_LEVEL = 6
Status = ExportJob.Status


def exports_root() -> Path:
    return Path(settings.EXPORTS_ROOT)


def export_job_folder(job: ExportJob) -> Path:
    return exports_root() / f"job-{job.pk}"


# --- creating -------------------------------------------------------------------------------------


@transaction.atomic
def export_job_create(
    *,
    requested_by: User | None,
    households: Iterable[Household] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    include_readings: bool = True,
    include_sequences: bool = True,
) -> ExportJob:
    """Record a dataset export (no households: all) and queue it once the transaction commits."""
    households = list(households)
    job = ExportJob(
        requested_by=requested_by,
        all_households=not households,
        start=start,
        end=end,
        include_readings=include_readings,
        include_sequences=include_sequences,
    )
    job.full_clean()
    job.save()
    job.households.set(households)
    export_job_enqueue(job_id=job.pk)
    return job


def export_job_enqueue(*, job_id: int) -> None:
    """Queue the job's task after the current transaction commits (the row must be visible)."""
    transaction.on_commit(partial(run_export_job_task.delay, job_id), robust=True)


@transaction.atomic
def export_job_rerun(*, job: ExportJob) -> ExportJob:
    """Run a finished, failed or expired job again from the start (same files, same checksums
    while the data is unchanged). A pending or running job is left alone."""
    locked = ExportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status in (Status.PENDING, Status.RUNNING):
        return locked
    locked.status = Status.PENDING
    locked.attempts = 0
    locked.error = ""
    locked.rows_written = 0
    locked.save(update_fields=["status", "attempts", "error", "rows_written", "updated_at"])
    export_job_enqueue(job_id=locked.pk)
    return locked


def export_job_delete(*, job: ExportJob) -> None:
    """Delete a job and its files."""
    shutil.rmtree(export_job_folder(job), ignore_errors=True)
    job.delete()


# --- running --------------------------------------------------------------------------------------


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Run a pending job, or a running one whose worker died (start over). A finished, failed or
    expired job is left alone (a duplicate delivery). Database outages are re-raised for the
    task to retry (the job goes back to pending); any other error fails the job with its text."""
    job = _export_job_claim(job_id)
    if job is None:
        return None
    try:
        checksums, sizes, rows = _dataset_write(job)
    except (OperationalError, InterfaceError) as error:
        ExportJob.objects.filter(pk=job.pk).update(
            status=Status.PENDING, error=f"retrying: {error}", updated_at=timezone.now()
        )
        raise
    except Exception as error:
        logger.exception("export job %s failed", job.pk)
        shutil.rmtree(export_job_folder(job), ignore_errors=True)
        _export_job_finish(job, status=Status.FAILED, error=f"{type(error).__name__}: {error}")
        return job
    job.rows_written = rows
    job.checksums = checksums
    job.size_bytes = sum(sizes.values())
    job.file_path = export_job_folder(job).name
    _export_job_finish(job, status=Status.SUCCEEDED, error="")
    return job


@transaction.atomic
def _export_job_claim(job_id: int) -> ExportJob | None:
    job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.status not in (Status.PENDING, Status.RUNNING):
        return None
    now = timezone.now()
    if job.attempts >= MAX_ATTEMPTS:
        job.status = Status.FAILED
        job.error = f"Gave up after {job.attempts} attempts (the worker died or was stopped)."
        job.finished_at = now
        job.save(update_fields=["status", "error", "finished_at", "updated_at"])
        _export_job_failure_record(job)
        return None
    job.status = Status.RUNNING
    job.attempts += 1
    job.started_at = now
    job.heartbeat_at = now
    job.finished_at = None
    job.rows_written = 0
    job.error = ""
    job.checksums = {}
    job.size_bytes = None
    job.file_path = ""
    job.save(
        update_fields=[
            "status",
            "attempts",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "rows_written",
            "error",
            "checksums",
            "size_bytes",
            "file_path",
            "updated_at",
        ]
    )
    return job


def _export_job_finish(job: ExportJob, *, status: str, error: str) -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "error",
            "finished_at",
            "rows_written",
            "checksums",
            "size_bytes",
            "file_path",
            "updated_at",
        ]
    )
    if status == Status.FAILED:
        _export_job_failure_record(job)


def _export_job_failure_record(job: ExportJob) -> None:
    """The failed job as an error of a background job in the audit log (the staff daily digest
    lists these as failed jobs)."""
    audit_event_record(
        title="exports/export-failed",
        app_function="export_job_run",
        log_type=AuditEvent.LogType.ERROR,
        app_component=AuditEvent.Component.WORKER,
        user_id=job.requested_by_id,
        details={"job": job.pk, "attempts": job.attempts, "error": job.error[:300]},
    )


@dataclass
class _Progress:
    """Counts written rows; stores them on the job every PROGRESS_EVERY_ROWS rows."""

    job_id: int
    written: int = 0
    stored: int = 0

    def add(self, rows: int) -> None:
        self.written += rows
        if self.written - self.stored >= PROGRESS_EVERY_ROWS:
            self.store()

    def beat(self, rows: int) -> None:
        """A sign of life while a Parquet edition is written (its rows are counted already)."""
        self.store()

    def store(self) -> None:
        now = timezone.now()
        ExportJob.objects.filter(pk=self.job_id).update(
            rows_written=self.written, heartbeat_at=now, updated_at=now
        )
        self.stored = self.written


@dataclass
class _HashingWriter:
    """A binary file that hashes and counts what is written through it."""

    target: IO[bytes]
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def export_job_range(job: ExportJob) -> tuple[datetime | None, datetime]:
    """The UTC range [start, end) a job exports: an open end is the time the job was requested,
    so running it again later writes the same rows (late readings stamped before that time
    excepted)."""
    return job.start, job.end or job.created_at


def _dataset_write(job: ExportJob) -> tuple[dict[str, str], dict[str, int], int]:
    start, end = export_job_range(job)
    key = pseudonym_key()
    household_ids = None if job.all_households else job.households.values_list("user_id", flat=True)
    sensors = dataset.dataset_sensors(user_ids=household_ids, key=key)
    expected_readings, expected_sequences = dataset.dataset_counts(
        sensors=sensors,
        start=start,
        end=end,
        readings=job.include_readings,
        sequences=job.include_sequences,
    )
    ExportJob.objects.filter(pk=job.pk).update(rows_expected=expected_readings + expected_sequences)
    folder = export_job_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    progress = _Progress(job.pk)
    checksums: dict[str, str] = {}
    sizes: dict[str, int] = {}
    rows: dict[str, int] = {}
    for name, included, blocks in (
        (READINGS_FILE, job.include_readings, _reading_blocks(sensors, start, end, progress)),
        (SEQUENCES_FILE, job.include_sequences, _sequence_blocks(sensors, start, end, progress)),
    ):
        if not included:
            _remove(folder / name)
            _remove(folder / parquet_name(name))
            continue
        before = progress.written
        _write_atomic(folder / name, blocks, checksums, sizes, compress=True)
        rows[name] = progress.written - before
        _parquet_write(folder / name, checksums, sizes, rows, on_row_group=progress.beat)
    household_rows = dataset.dataset_households(sensors=sensors, start=start, end=end)
    _write_atomic(
        folder / HOUSEHOLDS_FILE,
        [
            dataset.header_line(dataset.HOUSEHOLD_HEADER),
            csv_lines(household_rows).encode(),
        ],
        checksums,
        sizes,
        compress=True,
    )
    rows[HOUSEHOLDS_FILE] = len(household_rows)
    _parquet_write(folder / HOUSEHOLDS_FILE, checksums, sizes, rows, on_row_group=None)
    progress.store()
    manifest = _manifest(
        job, key, sorted({sensor.household for sensor in sensors}), rows, checksums, sizes
    )
    _write_atomic(folder / MANIFEST_FILE, [manifest], checksums, sizes, compress=False)
    return checksums, sizes, progress.written


def _reading_blocks(
    sensors: list[dataset.DatasetSensor],
    start: datetime | None,
    end: datetime,
    progress: _Progress,
) -> Iterator[bytes]:
    """Header, then every sensor's readings slice by slice; rows are counted as line ends
    (reading rows hold no free text, so no cell contains one)."""
    yield dataset.header_line(dataset.READING_HEADER)
    for sensor in sensors:
        for first, last in dataset.reading_slices(sensor=sensor, start=start, end=end):
            written = 0
            for block in dataset.reading_blocks(sensor=sensor, start=first, end=last):
                written += block.count(b"\n")
                yield block
            progress.add(written)


def _sequence_blocks(
    sensors: list[dataset.DatasetSensor],
    start: datetime | None,
    end: datetime,
    progress: _Progress,
) -> Iterator[bytes]:
    yield dataset.header_line(dataset.SEQUENCE_HEADER)
    yield from dataset.sequence_blocks(sensors=sensors, start=start, end=end, on_rows=progress.add)


def _write_atomic(
    path: Path,
    blocks: Iterable[bytes],
    checksums: dict[str, str],
    sizes: dict[str, int],
    *,
    compress: bool,
) -> None:
    """Write the blocks (gzip-compressed when `compress`) under a temporary name in the same
    folder, fsync, then rename over `path`; record the SHA-256 and size of what was written."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as raw:
            writer = _HashingWriter(raw)
            if compress:
                # No file name and mtime 0 in the header: the same data gives the same bytes.
                with gzip.GzipFile(
                    filename="",
                    mode="wb",
                    fileobj=writer,  # type: ignore[arg-type]
                    compresslevel=GZIP_LEVEL,
                    mtime=0,
                ) as sink:
                    for block in blocks:
                        sink.write(block)
            else:
                for block in blocks:
                    writer.write(block)
            raw.flush()
            os.fsync(raw.fileno())
        temporary.replace(path)
    except BaseException:
        _remove(temporary)
        raise
    checksums[path.name] = writer.digest.hexdigest()
    sizes[path.name] = writer.size


def _parquet_write(
    source: Path,
    checksums: dict[str, str],
    sizes: dict[str, int],
    rows: dict[str, int],
    *,
    on_row_group: Callable[[int], None] | None,
) -> None:
    """Write the Parquet edition of the CSV file `source` next to it (temporary name, fsync,
    rename) and record its SHA-256, size and rows (which must be the CSV file's)."""
    path = source.with_name(parquet_name(source.name))
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        written = parquet_from_csv(
            source=source,
            target=temporary,
            columns=_COLUMNS[source.name],
            row_group_rows=ROW_GROUP_ROWS,
            on_row_group=on_row_group,
        )
        if written != rows[source.name]:
            raise RuntimeError(f"{path.name}: {written} rows, the CSV file has {rows[source.name]}")
        digest = hashlib.sha256()
        with temporary.open("rb") as handle:
            for block in iter(partial(handle.read, 1 << 20), b""):
                digest.update(block)
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        _remove(temporary)
        raise
    checksums[path.name] = digest.hexdigest()
    sizes[path.name] = path.stat().st_size
    rows[path.name] = written


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


_COLUMNS = {
    READINGS_FILE: dataset.READING_COLUMNS,
    SEQUENCES_FILE: dataset.SEQUENCE_COLUMNS,
    HOUSEHOLDS_FILE: dataset.HOUSEHOLD_COLUMNS,
}
_DESCRIPTIONS = {
    READINGS_FILE: "Every reading of the households' sensors in the range, by sensor and time.",
    SEQUENCES_FILE: "Peaks and anomalies detected in the range, by sensor, start and kind.",
    HOUSEHOLDS_FILE: (
        "One row per household with an assignment period in the dataset that meets the range: "
        "its study arm and covariates as they are when the job runs (not their history). A "
        "household deleted after its readings were kept for the study is listed with "
        "deleted=true and an empty arm and covariates."
    ),
}
CSV_FORMAT = "csv, gzip, UTF-8, comma, header row, \\n line ends"


def _manifest(
    job: ExportJob,
    key: bytes,
    households: list[str],
    rows: dict[str, int],
    checksums: dict[str, str],
    sizes: dict[str, int],
) -> bytes:
    start, end = export_job_range(job)
    files = []
    for name, columns in _COLUMNS.items():
        if name not in checksums:
            continue
        described = [
            {"name": c.name, "type": c.type, "unit": c.unit, "description": c.description}
            for c in columns
        ]
        for file_name, file_format in (
            (name, CSV_FORMAT),
            (
                parquet_name(name),
                f"parquet, {COMPRESSION}, row groups of at most {ROW_GROUP_ROWS} rows; "
                f"the rows and values of {name}, typed",
            ),
        ):
            files.append(
                {
                    "name": file_name,
                    "format": file_format,
                    "description": _DESCRIPTIONS[name],
                    "rows": rows[file_name],
                    "bytes": sizes[file_name],
                    "sha256": checksums[file_name],
                    "columns": described,
                }
            )
    manifest = {
        "dataset": "energyleaf-research-export",
        "manifest_version": 2,
        "job": job.pk,
        "created": format_timestamp(job.created_at),
        "time_zone": "UTC",
        "code_version": code_version(),
        "parameters": {
            "start": format_timestamp(start) if start else None,
            "end": format_timestamp(end),
            "range": (
                "start included (none: from the first reading), end excluded (the request time "
                "when none was given); sequences by their start"
            ),
            "households": "all" if job.all_households else households,
            "include_readings": job.include_readings,
            "include_sequences": job.include_sequences,
        },
        "pseudonyms": {
            "method": "HMAC-SHA256 of 'household:<id>' / 'sensor:<id>', first 20 hex digits",
            "key_id": pseudonym_key_id(key),
            "stable": "the same key gives the same pseudonyms in every export",
        },
        "cells": (
            "numbers with a dot and no exponent; empty cell = unknown; text cells starting "
            "with = + - @ tab or CR (other than numbers) are prefixed with '"
        ),
        "types": (
            "each column's type is its type in the Parquet edition (pyarrow's spelling): "
            "decimal128 columns hold the CSV's digits exactly (pandas: decimal.Decimal objects; "
            "dtype_backend='pyarrow' keeps them as decimal columns), double columns the nearest "
            "double to the CSV's rounded value, timestamps are UTC to the millisecond; an empty "
            "CSV cell of a number, timestamp or bool column is null, text is the CSV's text "
            "('' for an empty cell, the ' prefix included); pandas reads an integer column "
            "with nulls as float64 unless dtype_backend is given"
        ),
        "load": "pandas.read_parquet('readings.parquet') or pandas.read_csv('readings.csv.gz')",
        "files": files,
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the running code (read from .git without running git), or the
    ENERGYLEAF_CODE_VERSION setting, or "unknown"."""
    configured = str(getattr(settings, "ENERGYLEAF_CODE_VERSION", "") or "")
    if configured:
        return configured
    git = Path(settings.BASE_DIR) / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        loose = git / ref
        if loose.exists():
            return loose.read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return "unknown"


# --- downloads ------------------------------------------------------------------------------------


def export_job_file_open(*, job: ExportJob, name: str, user: User) -> IO[bytes]:
    """Open one file of a finished job for download and record who downloaded it. Only the
    dataset's own file names are accepted; anything else is NotFoundError."""
    if job.status != Status.SUCCEEDED or name not in DATASET_FILES or name not in job.checksums:
        raise NotFoundError("No such export file.", code="export_file_not_found")
    path = export_job_folder(job) / name
    try:
        handle = path.open("rb")
    except FileNotFoundError as error:
        raise NotFoundError("No such export file.", code="export_file_not_found") from error
    audit_event_record(
        title="exports/dataset-downloaded",
        app_function="export_job_file_open",
        log_type=AuditEvent.LogType.ACTION,
        app_component=AuditEvent.Component.ADMIN,
        user_id=user.pk,
        details={"job": job.pk, "file": name, "sha256": job.checksums[name]},
    )
    return handle


# --- clean-up -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanupResult:
    expired: int
    requeued: int
    orphans_removed: int


def export_jobs_cleanup(*, now: datetime | None = None) -> CleanupResult:
    """Delete the files of jobs finished more than EXPORT_RETENTION_DAYS ago (succeeded jobs
    become `expired`), folders of deleted jobs, and queue again jobs `running` without progress
    for EXPORT_STUCK_MINUTES (their worker died; the run starts over)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=int(settings.EXPORT_RETENTION_DAYS))
    old = ExportJob.objects.filter(
        status__in=(Status.SUCCEEDED, Status.FAILED), finished_at__lt=cutoff
    )
    expired = 0
    for job in old.iterator():
        shutil.rmtree(export_job_folder(job), ignore_errors=True)
        if job.status == Status.SUCCEEDED:
            expired += ExportJob.objects.filter(pk=job.pk, status=Status.SUCCEEDED).update(
                status=Status.EXPIRED, updated_at=now
            )
    orphans = _orphan_folders_remove(cutoff)
    stuck_before = now - timedelta(minutes=int(settings.EXPORT_STUCK_MINUTES))
    requeued = 0
    stuck = ExportJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stuck_before)
    for job_id in list(stuck.values_list("pk", flat=True)):
        with transaction.atomic():
            if ExportJob.objects.filter(
                pk=job_id, status=Status.RUNNING, heartbeat_at__lt=stuck_before
            ).update(status=Status.PENDING, error="re-queued: no progress", updated_at=now):
                requeued += 1
                export_job_enqueue(job_id=job_id)
    # A pending job whose message was lost (broker down when it was queued) is queued again.
    for job_id in ExportJob.objects.filter(
        status=Status.PENDING, updated_at__lt=stuck_before
    ).values_list("pk", flat=True):
        requeued += 1
        export_job_enqueue(job_id=job_id)
    return CleanupResult(expired=expired, requeued=requeued, orphans_removed=orphans)


def _orphan_folders_remove(cutoff: datetime) -> int:
    root = exports_root()
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.glob("job-*"):
        number = folder.name.removeprefix("job-")
        if not number.isdigit() or ExportJob.objects.filter(pk=int(number)).exists():
            continue
        modified = datetime.fromtimestamp(folder.stat().st_mtime, tz=cutoff.tzinfo)
        if modified < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
