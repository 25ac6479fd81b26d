"""`manage.py import_energyleaf --source-database-url postgres://…`: import the old platform
(docs/operations.md, "Import from the old platform"). Thin: parses, calls the services, prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import NotSupportedError
from tqdm import tqdm  # type: ignore[import-untyped]

from energyleaf.legacy.services import PARTS, legacy_import, legacy_verify


class _Bar:
    def __init__(self, out: Any):
        self.out = out
        self.bar: Any = None

    def start(self, total: int) -> None:
        self.bar = tqdm(total=total, unit=" readings", unit_scale=True, file=self.out)

    def advance(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.update(rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--readings-since: not an ISO date or time: {text!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Import households, sensors, readings, peaks, devices and reports of the old platform."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source-database-url", required=True, help="postgres://… (read only)")
        parser.add_argument("--dry-run", action="store_true", help="Write nothing; count.")
        parser.add_argument(
            "--only", default="", help=f"Comma-separated parts of {','.join(PARTS)} (default all)."
        )
        parser.add_argument(
            "--readings-since", default="", help="Copy readings from then on (UTC)."
        )
        parser.add_argument("--verify-only", action="store_true", help="Only compare.")
        parser.add_argument("--chunk-rows", type=int, default=200_000)
        parser.add_argument(
            "--jobs", type=int, default=2, help="Sensors copied at the same time (default 2)."
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["source_database_url"]
        since = _since(options["readings_since"]) if options["readings_since"] else None
        only = {part.strip() for part in options["only"].split(",") if part.strip()} or None
        if only is not None and not only <= set(PARTS):
            raise CommandError(f"--only: unknown parts {sorted(only - set(PARTS))}")
        if not options["verify_only"]:
            bar = None if options["no_progress"] else _Bar(self.stderr)
            try:
                result = legacy_import(
                    source_url=url,
                    only=only,
                    dry_run=options["dry_run"],
                    readings_since=since,
                    chunk_rows=options["chunk_rows"],
                    jobs=options["jobs"],
                    progress=bar,
                    on_part=lambda part: self.stdout.write(f"importing {part} …"),
                )
            except NotSupportedError as exc:
                raise CommandError(str(exc)) from exc
            finally:
                if bar is not None:
                    bar.close()
            for name, part in result.parts.items():
                verb = "would copy" if result.dry_run and name == "readings" else "created"
                self.stdout.write(f"{name}: {verb} {part.created}, already there {part.existing}")
            for line in result.problems:
                self.stdout.write(f"problem: {line}")
            if options["dry_run"]:
                self.stdout.write("dry run: nothing was written")
                return
        try:
            differences = legacy_verify(source_url=url, readings_since=since)
        except NotSupportedError as exc:
            raise CommandError(str(exc)) from exc
        for line in differences:
            self.stdout.write(f"difference: {line}")
        if differences:
            raise CommandError(f"verification found {len(differences)} differences")
        self.stdout.write("verification: source and import match")
