"""`manage.py restore --input FILE --yes`: replace the database's content with a backup."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from energyleaf.audit.services.backups import BackupError, database_restore


class Command(BaseCommand):
    help = (
        "Replace every row of the database with the backup in --input (made by `backup` from "
        "the same kind of database). Stop web, worker and beat first; --yes confirms."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", type=Path, required=True, help="a file made by backup")
        parser.add_argument(
            "--yes", action="store_true", help="replace the current data (required)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            name = connection.settings_dict["NAME"]
            raise CommandError(
                f"This replaces every row of the {connection.vendor} database {name} with "
                f"{options['input']}. Stop web, worker and beat, then run again with --yes."
            )
        try:
            vendor = database_restore(source=options["input"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{vendor} database restored from {options['input']}")
