"""`manage.py backup --output FILE`: a backup of the database, safe while the services run."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from energyleaf.audit.services.backups import BackupError, database_backup


class Command(BaseCommand):
    help = (
        "Back up the database to --output: SQLite through its online backup API (a single "
        "file), PostgreSQL through pg_dump --format=custom. Web, worker and beat may keep running."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", type=Path, required=True, help="a new file")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = database_backup(output=options["output"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{result.vendor} backup written to {result.path} ({result.size_bytes} bytes)"
        )
