"""`manage.py simulate_sensors`: simulated sensors posting protobuf readings to a server.

The simulation itself lives in the `simulation` package (`simulation.run`); this command parses
options, optionally registers the sensors in the local database (`energyleaf.demo.services`),
turns SIGTERM into a clean stop and prints the summary.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from energyleaf.demo.selectors import stored_registers
from energyleaf.demo.services import register_simulated_sensors
from simulation.config import DEFAULT_CLIENT_ID_PREFIX, STYLES, SimulatorConfig
from simulation.run import Simulation
from simulation.summary import SimulationSummary


class Command(BaseCommand):
    help = (
        "Simulate sensors (Tasmota driver or energyleaf-pi) that post realistic household "
        "readings to URL until --duration passes or Ctrl-C/SIGTERM; prints a summary."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--count", type=int, default=1, help="number of sensors (default 1)")
        parser.add_argument(
            "--interval", type=float, default=15.0, help="seconds between readings (default 15)"
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="server base URL (default %(default)s)"
        )
        parser.add_argument("--style", choices=STYLES, default="tasmota")
        parser.add_argument(
            "--duration", type=float, default=None, help="seconds to run (default: until stopped)"
        )
        parser.add_argument(
            "--client-id-prefix",
            default=DEFAULT_CLIENT_ID_PREFIX,
            help="first four MAC octets; the sensor index gives the last two",
        )
        parser.add_argument("--first-index", type=int, default=1, help="index of the first sensor")
        parser.add_argument(
            "--register",
            action="store_true",
            help=(
                "first register missing sensors for users sim-<index>@energyleaf.local; sensors "
                "with stored readings continue from their newest register"
            ),
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the consumption model")
        parser.add_argument("--summary-file", type=Path, help="also write the summary as JSON")
        parser.add_argument(
            "--resync-interval",
            type=float,
            default=3600.0,
            help="seconds between re-sends of buffered readings (pi styles, default 3600)",
        )
        parser.add_argument(
            "--live-timestamps",
            action="store_true",
            help="send every reading with its time (real clients do not; exact DB comparison)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = SimulatorConfig(
                base_url=options["url"],
                style=options["style"],
                count=options["count"],
                interval_s=options["interval"],
                duration_s=options["duration"],
                client_id_prefix=options["client_id_prefix"],
                first_index=options["first_index"],
                seed=options["seed"],
                resync_interval_s=options["resync_interval"],
                live_timestamps=options["live_timestamps"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verbosity: int = options["verbosity"]

        if options["register"]:
            result = register_simulated_sensors(sensors=config.sensors())
            if verbosity >= 1:
                self.stdout.write(
                    f"Registered {len(result.created)} sensor(s) ({len(result.users_created)} new "
                    f"user(s)); {len(result.existing)} existed already."
                )
            for client_id, reason in result.failed.items():
                self.stderr.write(self.style.WARNING(f"Not registered {client_id}: {reason}"))
            # The local database is the server's: continue each meter from its stored register,
            # so the first live reading follows the history (no jump, no refusal).
            registers = stored_registers(
                client_ids=[client_id for _, client_id in config.sensors()]
            )
            if registers:
                config = dataclasses.replace(config, start_registers=registers)
                if verbosity >= 1:
                    self.stdout.write(
                        f"{len(registers)} sensor(s) continue from their stored register."
                    )

        sensors = config.sensors()
        if verbosity >= 1:
            until = f"for {config.duration_s:g} s" if config.duration_s else "until stopped"
            self.stdout.write(
                f"Simulating {config.count} {config.style} sensor(s) {sensors[0][1]}"
                f"..{sensors[-1][1]} against {config.base_url}, every {config.interval_s:g} s, "
                f"{until}."
            )

        summary = self._run(Simulation(config))
        if verbosity >= 1:
            text = summary.format_text()
            consistent = not summary.inconsistencies()
            self.stdout.write(self.style.SUCCESS(text) if consistent else self.style.ERROR(text))
        if options["summary_file"] is not None:
            path: Path = options["summary_file"]
            try:
                path.write_text(summary.to_json(), encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot write the summary file: {exc}") from exc

    def _run(self, simulation: Simulation) -> SimulationSummary:
        """Run the simulation; SIGTERM stops it like Ctrl-C (only possible in the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return simulation.run()
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            return simulation.run()
        finally:
            signal.signal(signal.SIGTERM, previous)
