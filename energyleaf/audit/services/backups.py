"""Backing up and restoring the database (the `backup` and `restore` management commands).

- SQLite (the embedded default): SQLite's online backup API (`sqlite3.Connection.backup`) copies
  the live file in one read transaction, a consistent snapshot, while web, worker and beat keep
  writing (WAL: readers never block writers); the copy is a single self-contained file
  (rollback journal, integrity-checked), written next to its target and renamed into place.
  Restoring copies a backup into the live file the same way; stop web, worker and beat first,
  so that none writes between the two.
- PostgreSQL: `pg_dump --format=custom --no-owner --no-privileges` and
  `pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction
  --exit-on-error`, with the connection parameters of the `default` database passed in the
  PG* environment variables, so the password never appears on a command line.

Everything the database holds comes back: readings, users with their password hashes, the
simple_history tables, the audit log, schedules. Files outside the database (the trained model,
research export files) and the secret and pseudonym keys are the operator's to keep.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services.events import audit_event_record

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
# One step for the whole copy: one read transaction, one consistent snapshot. Copied in several
# steps, every write of another connection in between restarts the copy, and under a steady
# stream of sensor writes it never ends. In WAL mode the reader does not block the writers.
_ALL_PAGES = -1


class BackupError(Exception):
    """A backup or restore could not be done; the message says why (no secret in it)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    vendor: str
    size_bytes: int


def database_vendor(*, alias: str = "default") -> str:
    """`sqlite` or `postgresql` (anything else is refused by backup and restore)."""
    vendor = connections[alias].vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


def database_backup(*, output: Path, alias: str = "default") -> BackupResult:
    """Write a backup of the database to `output` (refused if it exists): a SQLite file or a
    pg_dump custom-format archive. Safe while the services run."""
    output = Path(output)
    if output.exists():
        raise BackupError(f"{output} exists; choose a new file.")
    if not output.parent.is_dir():
        raise BackupError(f"{output.parent} is not a folder.")
    vendor = database_vendor(alias=alias)
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if vendor == "sqlite":
            _sqlite_backup(_sqlite_path(alias), partial)
        else:
            _pg_run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(partial),
                ],
                alias,
            )
        _fsync(partial)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    size = output.stat().st_size
    # Logged, not written to the audit log: a backup writes nothing, so it never waits for a
    # writer's lock.
    logger.info("Database backup written to %s (%s, %d bytes)", output, vendor, size)
    return BackupResult(path=output, vendor=vendor, size_bytes=size)


def database_restore(*, source: Path, alias: str = "default") -> str:
    """Replace the database's content with the backup in `source`; returns the vendor.

    The backup must come from the same kind of database. Stop web, worker and beat first."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    vendor = database_vendor(alias=alias)
    with source.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    expected = SQLITE_MAGIC if vendor == "sqlite" else PG_DUMP_MAGIC
    if not head.startswith(expected):
        kind = "a SQLite file" if vendor == "sqlite" else "a pg_dump custom-format archive"
        raise BackupError(f"{source} is not {kind}; this database is {vendor}.")
    connections[alias].close()  # no transaction of ours stays open across the swap
    if vendor == "sqlite":
        _sqlite_restore(source, _sqlite_path(alias))
    else:
        name = str(connections[alias].settings_dict["NAME"])
        _pg_run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                name,
                str(source),
            ],
            alias,
        )
    audit_event_record(
        title="backup/restored",
        app_function="database_restore",
        app_component=AuditEvent.Component.ADMIN,
        details={"vendor": vendor, "file": source.name},
    )
    logger.info("Database restored from %s (%s)", source, vendor)
    return vendor


def _sqlite_path(alias: str) -> Path:
    name = str(connections[alias].settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return Path(name)


def _sqlite_backup(database: Path, target: Path) -> None:
    source = sqlite3.connect(database, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy, pages=_ALL_PAGES)
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        _sqlite_check(copy, target)
    finally:
        copy.close()
        source.close()


def _sqlite_restore(source: Path, database: Path) -> None:
    backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _sqlite_check(backup, source)
        if (
            backup.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
            ).fetchone()
            is None
        ):
            raise BackupError(f"{source} is not an Energyleaf database (no django_migrations).")
        live = sqlite3.connect(database, timeout=30)
        try:
            backup.backup(live, pages=_ALL_PAGES)
        finally:
            live.close()
    finally:
        backup.close()


def _sqlite_check(database: sqlite3.Connection, path: Path) -> None:
    result = database.execute("PRAGMA integrity_check").fetchone()
    if result is None or result[0] != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result}")


def _pg_environment(alias: str) -> dict[str, str]:
    """libpq's variables for the database of `alias` (the password only here, never in argv)."""
    settings = connections[alias].settings_dict
    options: dict[str, Any] = settings.get("OPTIONS") or {}
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", settings.get("HOST")),
        ("PGPORT", settings.get("PORT")),
        ("PGUSER", settings.get("USER")),
        ("PGPASSWORD", settings.get("PASSWORD")),
        ("PGDATABASE", settings.get("NAME")),
        ("PGSSLMODE", options.get("sslmode")),
    ):
        if value:
            env[variable] = str(value)
    return env


def _pg_run(arguments: list[str], alias: str) -> None:
    program = shutil.which(arguments[0])
    if program is None:
        raise BackupError(f"{arguments[0]} is not on PATH (install the PostgreSQL client tools).")
    completed = subprocess.run(  # noqa: S603 - fixed program, arguments are ours
        [program, *arguments[1:]],
        env=_pg_environment(alias),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BackupError(f"{arguments[0]} failed ({completed.returncode}): {completed.stderr}")


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
