"""`manage.py seed_demo`: the demo of the run command (see `energyleaf.demo.services`)."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from energyleaf.demo.services import DEMO_HISTORY_HOURS, DEMO_HOUSEHOLD, DEMO_SENSOR, demo_seed


class Command(BaseCommand):
    help = (
        "Create what is missing of the demo: admin, household and sensor (their passwords are "
        "printed), the peak classifier, two days of simulated readings, peaks with device "
        "suggestions, rollups, a mailed report and a research export. Adds nothing twice."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=None,
            help="where the generated passwords are kept (default: var/demo-credentials.json)",
        )
        parser.add_argument(
            "--hours",
            type=int,
            default=DEMO_HISTORY_HOURS,
            help="hours of simulated history ending now (default %(default)s)",
        )
        parser.add_argument(
            "--no-train",
            action="store_true",
            help="do not train a missing peak classifier (peaks then get no suggestions)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["hours"] < 1:
            raise CommandError("--hours must be at least 1.")
        path: Path = options["credentials_file"] or Path(settings.VAR_DIR) / "demo-credentials.json"
        credentials: dict[str, str] = {}
        if path.exists():
            credentials = json.loads(path.read_text(encoding="utf-8"))
        started = time.monotonic()
        quiet = options["verbosity"] < 1

        def progress(line: str) -> None:
            if not quiet:
                self.stdout.write(f"[demo] {time.monotonic() - started:5.1f} s  {line}")
                self.stdout.flush()

        result = demo_seed(
            now=timezone.now(),
            hours=options["hours"],
            train=not options["no_train"],
            progress=progress,
        )
        credentials.update(result.passwords)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(credentials, indent=2), encoding="utf-8")
        path.chmod(0o600)
        for email, password in credentials.items():
            self.stdout.write(self.style.SUCCESS(f"demo login: {email} / {password}"))
        self.stdout.write(f"demo sensor: {DEMO_SENSOR} (household {DEMO_HOUSEHOLD})")
        progress("ready")
