"""`manage.py register_sensor`: register a sensor for a household from the shell or a script."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from energyleaf.users import selectors as user_selectors
from energyleaf.users import services as user_services
from sensors import services
from sensors.models import Sensor


class Command(BaseCommand):
    help = "Register a sensor (by MAC) for a household user; prints the sensor id."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--client-id", required=True, help="MAC, e.g. AA:BB:CC:DD:EE:FF")
        parser.add_argument("--user", required=True, help="e-mail of the household user")
        parser.add_argument(
            "--create-user", action="store_true", help="create the user if it does not exist"
        )
        parser.add_argument(
            "--type",
            dest="sensor_type",
            choices=[choice.value for choice in Sensor.SensorType],
            default=Sensor.SensorType.ELECTRICITY.value,
        )
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--script-file", type=Path, help="file with the Tasmota SML script")
        source.add_argument("--rotations", type=int, help="analog meter revolutions per kWh")
        parser.add_argument(
            "--needs-script",
            action="store_true",
            help="deliver the script or rotations on the next token request",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        script = ""
        if options["script_file"] is not None:
            try:
                script = options["script_file"].read_text(encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot read script file: {exc}") from exc
        rotations = options["rotations"]
        if rotations is not None and rotations < 1:
            raise CommandError("--rotations must be a positive whole number.")

        try:
            with transaction.atomic():
                user = user_selectors.users_by_email(email=options["user"]).first()
                if user is None:
                    if not options["create_user"]:
                        raise CommandError(
                            f"No user with e-mail {options['user']}; "
                            "pass --create-user to create one."
                        )
                    user = user_services.user_create(email=options["user"])
                    if options["verbosity"] >= 1:
                        self.stdout.write(f"Created user {user.email} (no password set).")
                sensor = services.sensor_register(
                    client_id=options["client_id"],
                    user=user,
                    sensor_type=options["sensor_type"],
                    script=script,
                    analog_rotations_per_kwh=rotations,
                    needs_script=True if options["needs_script"] else None,
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Registered sensor {sensor.client_id} ({sensor.sensor_type}) "
                    f"for {user.email}; needs_script={sensor.needs_script}."
                )
            )
