"""`manage.py seed_demo`: a demo admin, a demo household and its sensor, for the run command."""

from __future__ import annotations

import json
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from energyleaf.users import selectors as user_selectors
from energyleaf.users import services as user_services
from sensors import services
from sensors.models import Sensor

DEMO_ADMIN = "admin@energyleaf.local"
DEMO_HOUSEHOLD = "household@energyleaf.local"
DEMO_SENSOR = "5C:CF:7F:00:00:01"
DEMO_SCRIPT = (
    ">D\n>B\n=>sensor53 r\n>M 1\n+1,3,s,0,9600,SML\n"
    "1,77070100010800ff@1000,Total,kWh,total_in,4\n#\n"
)


class Command(BaseCommand):
    help = "Create the demo admin, household and sensor once; print their credentials."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=None,
            help="where the generated passwords are kept (default: var/demo-credentials.json)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["credentials_file"] or Path(settings.VAR_DIR) / "demo-credentials.json"
        credentials: dict[str, str] = {}
        if path.exists():
            credentials = json.loads(path.read_text(encoding="utf-8"))
        with transaction.atomic():
            for email, staff in ((DEMO_ADMIN, True), (DEMO_HOUSEHOLD, False)):
                if user_selectors.users_by_email(email=email).exists():
                    continue
                password = secrets.token_urlsafe(12)
                user_services.user_create(
                    email=email,
                    password=password,
                    username="Demo admin" if staff else "Demo household",
                    is_staff=staff,
                    is_participant=not staff,
                )
                if staff:
                    user_services.users_promote_to_admin(
                        users=user_selectors.users_by_email(email=email)
                    )
                credentials[email] = password
            household = user_selectors.users_by_email(email=DEMO_HOUSEHOLD).get()
            if not Sensor.objects.filter(client_id=DEMO_SENSOR).exists():
                services.sensor_register(client_id=DEMO_SENSOR, user=household, script=DEMO_SCRIPT)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(credentials, indent=2), encoding="utf-8")
        path.chmod(0o600)
        for email, password in credentials.items():
            self.stdout.write(self.style.SUCCESS(f"demo login: {email} / {password}"))
        self.stdout.write(f"demo sensor: {DEMO_SENSOR} (household {DEMO_HOUSEHOLD})")
