"""`manage.py detect_sequences`: re-run peak/anomaly detection over a date range (idempotent)."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm  # type: ignore[import-untyped]

from analytics.selectors.detection import electricity_sensor_ids_assigned, sensor_id_by_client_id
from analytics.services.detection import (
    ALL_KINDS,
    WINDOW,
    detection_windows_between,
    sequences_detect_window,
)


def _moment(text: str, option: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC when it has no offset)."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"{option}: not an ISO date or datetime: {text!r}")
        moment = datetime.combine(day, time(), tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class Command(BaseCommand):
    help = (
        "Detect peaks and anomalies again for one sensor (--sensor MAC) or all assigned "
        "electricity sensors (--all), for every half hour in [--start, --end] (UTC)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--sensor", help="MAC address of the sensor, e.g. AA:BB:CC:DD:EE:FF")
        target.add_argument("--all", action="store_true", help="every assigned electricity sensor")
        parser.add_argument("--start", required=True, help="ISO date or datetime (UTC)")
        parser.add_argument("--end", required=True, help="ISO date or datetime (UTC)")
        parser.add_argument(
            "--kind", action="append", choices=list(ALL_KINDS), help="repeatable; default: both"
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        start = _moment(options["start"], "--start")
        end = _moment(options["end"], "--end")
        if end <= start:
            raise CommandError("--end must be after --start.")
        if options["all"]:
            sensor_ids = electricity_sensor_ids_assigned()
        else:
            sensor_id = sensor_id_by_client_id(client_id=options["sensor"])
            if sensor_id is None:
                raise CommandError(f"No sensor with MAC {options['sensor']}.")
            sensor_ids = [sensor_id]
        windows = list(detection_windows_between(start=start, end=end))
        kinds = tuple(options["kind"] or ALL_KINDS)

        totals = {"runs": 0, "detected": 0, "inserted": 0, "updated": 0, "unchanged": 0}
        totals["absorbed"] = 0
        with tqdm(
            total=len(sensor_ids) * len(windows),
            unit="window",
            disable=options["no_progress"] or options["verbosity"] < 1,
            file=self.stderr,
        ) as progress:
            for sensor_id in sensor_ids:
                for window_start in windows:
                    try:
                        result = sequences_detect_window(
                            sensor_id=sensor_id,
                            window_start=window_start,
                            window_end=window_start + WINDOW,
                            kinds=kinds,
                        )
                    except ValidationError as exc:
                        raise CommandError("; ".join(exc.messages)) from exc
                    totals["runs"] += 1
                    for name, value in result.counts().items():
                        totals[name] += value
                    progress.update(1)
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{len(sensor_ids)} sensor(s), {len(windows)} window(s): "
                    + ", ".join(f"{name} {value}" for name, value in totals.items())
                )
            )
