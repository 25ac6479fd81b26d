"""The import from the old platform, part by part: users (with households and participation),
sensors (with their assignment periods), readings, peaks, devices, suggestions, reports.

Each old row is written through the owning app's import service together with its
`LegacyIdMap` row, in one transaction: a row already mapped is skipped, so a second run changes
nothing and a run cut off half-way continues where it stopped. Readings are copied in chunks by
`services.readings`, each chunk with its progress row. Problems (a row that cannot be imported,
an old value that does not fit) are collected as readable lines, never fixed silently.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import NotSupportedError, connection, transaction
from django.utils import timezone

from analytics.services.imported import (
    device_import,
    device_peak_import,
    sequence_import,
    suggestion_import,
)
from energyleaf.users.selectors import household_time_zone
from energyleaf.users.services.imported import user_import
from reports.services.imported import quantized, report_import, report_settings_import
from sensors.compute.mac import canonical_mac_or_none
from sensors.models import ASSIGNMENT_ORIGIN
from sensors.services.imported import ImportedPeriod, sensor_import

from ..compute.mapping import (
    OldSensorId,
    UnknownHashError,
    django_password,
    experiment_status,
    money,
    plan_periods,
    sensor_script,
)
from ..models import LegacyIdMap
from ..selectors.mapping import id_map
from . import source
from .readings import ReadingProgress, readings_copy, readings_pending

logger = logging.getLogger(__name__)

PARTS = ("users", "sensors", "readings", "peaks", "devices", "suggestions", "reports")
# report_config.timestamp_last's default on the old platform: no report yet.
NO_REPORT_YET = datetime(2020, 1, 2, tzinfo=UTC)
Kind = LegacyIdMap.Kind


@dataclass
class PartResult:
    created: int = 0
    existing: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    parts: dict[str, PartResult] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def problems(self) -> list[str]:
        return [f"{name}: {line}" for name, part in self.parts.items() for line in part.problems]


class _DryRunDoneError(Exception):
    """Rolls a dry run's transaction back."""


def _remember(kind: str, old_id: str, new_id: int) -> None:
    LegacyIdMap.objects.create(kind=kind, old_id=old_id, new_id=new_id)


def _message(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


@dataclass
class _Source:
    """What several parts read from the source, read once per run."""

    conn: Any
    since: datetime | None
    _stats: dict[str, source.IdStats] | None = None
    _owners: dict[str, str | None] | None = None
    _sensors: list[source.Row] | None = None
    _history: list[source.Row] | None = None

    @property
    def sensors(self) -> list[source.Row]:
        if self._sensors is None:
            self._sensors = source.sensors(self.conn)
        return self._sensors

    @property
    def history(self) -> list[source.Row]:
        if self._history is None:
            self._history = source.sensor_history(self.conn)
        return self._history

    @property
    def stats(self) -> dict[str, source.IdStats]:
        if self._stats is None:
            self._stats = source.reading_stats(self.conn, self.since)
        return self._stats

    @property
    def owners(self) -> dict[str, str | None]:
        """Old sensor id -> the old user it belonged to (None: unassigned)."""
        if self._owners is None:
            owners: dict[str, str | None] = {
                row["sensor_id"]: row["user_id"] for row in self.history
            }
            owners.update({row["sensor_id"]: row["user_id"] for row in self.sensors})
            self._owners = owners
        return self._owners

    def old_ids_by_mac(self) -> dict[str, list[str]]:
        """Canonical MAC -> its old sensor ids (current first)."""
        ids: dict[str, list[str]] = {}
        for row in self.sensors:
            mac = canonical_mac_or_none(row["client_id"])
            if mac is not None:
                ids.setdefault(mac, []).append(row["sensor_id"])
        for row in self.history:
            mac = canonical_mac_or_none(row["client_id"])
            if mac is not None and row["sensor_id"] not in ids.get(mac, []):
                ids.setdefault(mac, []).append(row["sensor_id"])
        return ids


# --- users --------------------------------------------------------------------------------------


def _household_fields(
    user: source.Row, data: source.Row | None, problems: list[str]
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "app_version": user["app_version"] if user["app_version"] in (0, 1, 2) else 0,
        "receive_anomaly_mails": bool(user["receive_anomaly_mails"]),
    }
    if user["app_version"] not in (0, 1, 2):
        problems.append(f"user {user['id']}: app_version {user['app_version']} read as 0")
    if data is None:
        return fields
    size = data["household"]
    if size is not None and not 1 <= size <= 50:
        problems.append(f"user {user['id']}: household size {size} left empty")
        size = None
    living = data["living_space"]
    if living is not None and living < 0:
        problems.append(f"user {user['id']}: living space {living} left empty")
        living = None
    fields.update(
        tariff=data["tariff"] or "basic",
        base_price_per_month=money(data["base_price"], 2),
        working_price_per_kwh=money(data["working_price"], 4),
        advance_payment_per_month=money(data["advance_payment_electricity"], 2),
        household_size=size,
        property_type=data["property"] or "",
        living_space_m2=living,
        hot_water=data["hot_water"] or "",
        daily_consumption_goal_kwh=money(data["consumption_goal"], 3),
        meter_number=(data["electricity_meter_number"] or "")[:64],
        meter_type=data["electricity_meter_type"] or "",
        power_at_meter=bool(data["power_at_electricity_meter"]),
        wifi_at_meter=bool(data["wifi_at_electricity_meter"]),
        installation_comment=data["installation_comment"] or "",
    )
    return fields


def _import_users(src: _Source, result: PartResult) -> None:
    mapped = id_map(kind=Kind.USER)
    data = source.households(src.conn)
    experiments = source.experiments(src.conn)
    for row in source.users(src.conn):
        if row["id"] in mapped:
            result.existing += 1
            continue
        try:
            password_hash = django_password(row["password"])
        except UnknownHashError as exc:
            result.problems.append(f"user {row['id']}: {exc}; imported without a usable password")
            password_hash = make_password(None)
        experiment = experiments.get(row["id"])
        participation = None
        if experiment is not None:
            try:
                status = experiment_status(experiment["experiment_status"])
            except ValueError as exc:
                result.problems.append(f"user {row['id']}: {exc}; not imported")
                continue
            participation = {
                "status": status,
                "installation_date": experiment["installation_date"],
                "deinstallation_date": experiment["deinstallation_date"],
                "experiment_number": experiment["experiment_number"],
                "gets_paid": bool(experiment["gets_paid"]),
                "uses_prolific": bool(experiment["uses_prolific"]),
            }
        try:
            with transaction.atomic():
                user = user_import(
                    email=row["email"],
                    password_hash=password_hash,
                    survey_token=row["id"],
                    user_fields={
                        "username": (row["username"] or "")[:150],
                        "first_name": (row["firstname"] or "")[:150],
                        "last_name": (row["lastname"] or "")[:150],
                        "phone": (row["phone"] or "")[:50],
                        "address": (row["address"] or "")[:255],
                        "is_active": bool(row["is_active"]),
                        "is_staff": bool(row["is_admin"]),
                        "is_participant": bool(row["is_participant"]),
                        "onboarding_completed": bool(row["onboarding_completed"]),
                        "activation_date": row["activation_date"],
                    },
                    household=_household_fields(row, data.get(row["id"]), result.problems),
                    participation=participation,
                    date_joined=row["created"],
                )
                _remember(Kind.USER, row["id"], user.pk)
        except ValidationError as exc:
            result.problems.append(f"user {row['id']} ({row['email']}): {_message(exc)}")
            continue
        result.created += 1


# --- sensors ------------------------------------------------------------------------------------


def _import_sensors(src: _Source, result: PartResult) -> None:
    users = id_map(kind=Kind.USER)
    mapped = id_map(kind=Kind.SENSOR)
    history_by_mac: dict[str, list[source.Row]] = {}
    for row in src.history:
        mac = canonical_mac_or_none(row["client_id"])
        if mac is None:
            result.problems.append(
                f"sensor_history {row['sensor_id']}: invalid MAC {row['client_id']!r}"
            )
            continue
        history_by_mac.setdefault(mac, []).append(row)
    known_macs = set()
    for row in src.sensors:
        mac = canonical_mac_or_none(row["client_id"])
        if mac is None:
            result.problems.append(f"sensor {row['sensor_id']}: invalid MAC {row['client_id']!r}")
            continue
        known_macs.add(mac)
        if mac in mapped:
            result.existing += 1
            continue
        old_rows = [(row["sensor_id"], row["user_id"])] + [
            (h["sensor_id"], h["user_id"])
            for h in history_by_mac.get(mac, [])
            if h["sensor_id"] != row["sensor_id"]
        ]
        old_ids = []
        for old_id, old_user in old_rows:
            if old_user is not None and old_user not in users:
                result.problems.append(
                    f"sensor {mac}: old id {old_id} belonged to user {old_user}, who was not "
                    "imported; its readings are nobody's"
                )
                old_user = None
            stats = src.stats.get(old_id)
            old_ids.append(
                OldSensorId(
                    old_id, old_user, stats.first if stats else None, stats.last if stats else None
                )
            )
        current_user = row["user_id"] if row["user_id"] in users else None
        planned, problems = plan_periods(
            old_ids,
            current_sensor_id=row["sensor_id"],
            current_user_id=current_user,
            origin=ASSIGNMENT_ORIGIN,
        )
        result.problems.extend(f"sensor {mac}: {line}" for line in problems)
        script, rotations = sensor_script(row["script"])
        try:
            with transaction.atomic():
                sensor = sensor_import(
                    client_id=mac,
                    sensor_type=row["sensor_type"],
                    version=row["version"],
                    user_id=users.get(current_user) if current_user else None,
                    needs_script=bool(row["needs_script"]),
                    script=script,
                    analog_rotations_per_kwh=rotations,
                    periods=[
                        ImportedPeriod(users[period.user_id], period.valid_from, period.valid_to)
                        for period in planned
                    ],
                )
                _remember(Kind.SENSOR, mac, sensor.pk)
                for old in old_ids:
                    _remember(Kind.SENSOR_ID, old.sensor_id, sensor.pk)
        except ValidationError as exc:
            result.problems.append(f"sensor {mac}: {_message(exc)}")
            continue
        result.created += 1
    for mac in sorted(set(history_by_mac) - known_macs):
        result.problems.append(
            f"sensor_history names MAC {mac}, which is no sensor any more; not imported"
        )


# --- peaks, devices, suggestions ----------------------------------------------------------------


def _import_peaks(src: _Source, result: PartResult) -> None:
    sensors = id_map(kind=Kind.SENSOR_ID)
    users = id_map(kind=Kind.USER)
    mapped = id_map(kind=Kind.SEQUENCE)
    for row in source.sequences(src.conn):
        if row["id"] in mapped:
            result.existing += 1
            continue
        sensor_id = sensors.get(row["sensor_id"])
        if sensor_id is None:
            result.problems.append(
                f"sequence {row['id']}: sensor id {row['sensor_id']} not imported"
            )
            continue
        if row["type"] not in ("peak", "anomaly") or row["end"] <= row["start"]:
            result.problems.append(f"sequence {row['id']}: type {row['type']!r} or span not valid")
            continue
        owner = src.owners.get(row["sensor_id"])
        with transaction.atomic():
            sequence = sequence_import(
                sensor_id=sensor_id,
                household_key=users.get(owner, 0) if owner else 0,
                kind=row["type"],
                start=row["start"],
                end=row["end"],
                average_peak_power_w=float(row["average_peak_power"]),
                energy_kwh=float(row["energy"]),
            )
            if sequence is None:
                result.problems.append(
                    f"sequence {row['id']}: the sensor has a {row['type']} at {row['start']} "
                    "already; not imported"
                )
                continue
            _remember(Kind.SEQUENCE, row["id"], sequence.pk)
        result.created += 1


def _import_devices(src: _Source, result: PartResult) -> None:
    users = id_map(kind=Kind.USER)
    mapped = id_map(kind=Kind.DEVICE)
    for row in source.devices(src.conn):
        old_id = str(row["id"])
        if old_id in mapped:
            result.existing += 1
            continue
        if row["user_id"] not in users:
            result.problems.append(f"device {old_id}: user {row['user_id']} not imported")
            continue
        try:
            with transaction.atomic():
                device = device_import(
                    user_id=users[row["user_id"]],
                    name=row["name"],
                    category=row["category"],
                    power_w=float(row["power"]) if row["power"] is not None else None,
                    is_power_estimated=bool(row["is_power_estimated"]),
                    weekly_usage_hours=(
                        float(row["weekly_usage_estimation"])
                        if row["weekly_usage_estimation"] is not None
                        else None
                    ),
                )
                _remember(Kind.DEVICE, old_id, device.pk)
        except ValidationError as exc:
            result.problems.append(f"device {old_id}: {_message(exc)}")
            continue
        result.created += 1
    devices = id_map(kind=Kind.DEVICE)
    sequences = id_map(kind=Kind.SEQUENCE)
    links = id_map(kind=Kind.DEVICE_PEAK)
    for row in source.device_peaks(src.conn):
        old_id = f"{row['device_id']}:{row['sensor_data_sequence_id']}"
        if old_id in links:
            result.existing += 1
            continue
        device_id = devices.get(str(row["device_id"]))
        sequence_id = sequences.get(row["sensor_data_sequence_id"])
        if device_id is None or sequence_id is None:
            result.problems.append(f"device_to_peak {old_id}: device or peak not imported")
            continue
        with transaction.atomic():
            link = device_peak_import(device_id=device_id, sequence_id=sequence_id)
            _remember(Kind.DEVICE_PEAK, old_id, link.pk)
        result.created += 1


def _import_suggestions(src: _Source, result: PartResult) -> None:
    sequences = id_map(kind=Kind.SEQUENCE)
    mapped = id_map(kind=Kind.SUGGESTION)
    for row in source.suggestions(src.conn):
        old_id = str(row["id"])
        if old_id in mapped:
            result.existing += 1
            continue
        sequence_id = sequences.get(row["sensor_data_sequence_id"])
        if sequence_id is None:
            result.problems.append(f"suggestion {old_id}: peak not imported")
            continue
        with transaction.atomic():
            suggestion = suggestion_import(sequence_id=sequence_id, category=row["device_category"])
            _remember(Kind.SUGGESTION, old_id, suggestion.pk)
        result.created += 1


# --- reports ------------------------------------------------------------------------------------


def _import_reports(src: _Source, result: PartResult) -> None:
    users = id_map(kind=Kind.USER)
    mapped = id_map(kind=Kind.REPORT_CONFIG)
    for row in source.report_configs(src.conn):
        old_id = str(row["id"])
        if old_id in mapped:
            result.existing += 1
            continue
        if row["user_id"] not in users:
            result.problems.append(f"report_config {old_id}: user {row['user_id']} not imported")
            continue
        interval = min(max(int(row["interval"]), 1), 7)
        hour = min(max(int(row["time"]), 0), 23)
        if (interval, hour) != (row["interval"], row["time"]):
            result.problems.append(
                f"report_config {old_id}: interval {row['interval']} / time {row['time']} "
                f"outside the valid range, imported as {interval} / {hour}"
            )
        with transaction.atomic():
            settings_row = report_settings_import(
                user_id=users[row["user_id"]],
                receive_mails=bool(row["receive_mails"]),
                interval_days=interval,
                local_hour=hour,
                last_report_at=row["timestamp_last"]
                if row["timestamp_last"] >= NO_REPORT_YET
                else None,
            )
            if settings_row is None:
                result.problems.append(
                    f"report_config {old_id}: the user has report settings already"
                )
                continue
            _remember(Kind.REPORT_CONFIG, old_id, settings_row.pk)
        result.created += 1
    days = source.report_days(src.conn)
    mapped = id_map(kind=Kind.REPORT)
    for row in source.reports(src.conn):
        if row["id"] in mapped:
            result.existing += 1
            continue
        user_id = users.get(row["user_id"])
        if user_id is None or row["date_to"] <= row["date_from"]:
            result.problems.append(f"report {row['id']}: user not imported or empty period")
            continue
        zone = household_time_zone(user_id=user_id)

        def local(moment: datetime, zone: Any = zone) -> Any:
            return moment.astimezone(zone).date()

        figures = {
            "total_consumption_kwh": quantized(row["total_energy_consumption"], 3),
            "average_daily_consumption_kwh": quantized(row["avg_energy_consumption_per_day"], 3),
            "total_cost_eur": quantized(row["total_energy_cost"], 2),
            "average_daily_cost_eur": quantized(row["avg_energy_cost"], 2),
            "best_day": local(row["best_day"]),
            "best_day_consumption_kwh": quantized(row["best_day_consumption"], 3),
            "worst_day": local(row["worst_day"]),
            "worst_day_consumption_kwh": quantized(row["worst_day_consumption"], 3),
        }
        report_days = [
            {
                "day": local(day["date"]),
                "consumption_kwh": quantized(day["daily_consumption"], 3),
                "goal_kwh": quantized(day["daily_goal"], 3),
                "exceeded": day["exceeded"],
                "progress_percent": quantized(day["progress"], 2),
            }
            for day in days.get(row["id"], [])
        ]
        try:
            with transaction.atomic():
                report = report_import(
                    user_id=user_id,
                    period_start=row["date_from"],
                    period_end=row["date_to"],
                    first_day=local(row["date_from"]),
                    last_day=local(row["date_to"] - timedelta(microseconds=1)),
                    time_zone=str(zone),
                    figures=figures,
                    sent_at=row["timestamp"],
                    days=report_days,
                )
                if report is None:
                    result.problems.append(f"report {row['id']}: a report of that period exists")
                    continue
                _remember(Kind.REPORT, row["id"], report.pk)
        except ValidationError as exc:
            result.problems.append(f"report {row['id']}: {_message(exc)}")
            continue
        result.created += 1


# --- the run ------------------------------------------------------------------------------------


def _import_readings(
    src: _Source,
    result: PartResult,
    *,
    source_url: str,
    chunk_rows: int,
    jobs: int,
    progress: ReadingProgress | None,
) -> None:
    sensors = id_map(kind=Kind.SENSOR)
    by_mac = src.old_ids_by_mac()
    types = {}
    for row in src.sensors:
        mac = canonical_mac_or_none(row["client_id"])
        if mac is not None:
            types[mac] = row["sensor_type"]
    work = [
        (sensors[mac], types[mac], old_ids)
        for mac, old_ids in sorted(by_mac.items())
        if mac in sensors
    ]
    copied, problems = readings_copy(
        source_url=source_url,
        jobs=jobs,
        work=work,
        stats=src.stats,
        since=src.since,
        chunk_rows=chunk_rows,
        received_at=timezone.now(),
        progress=progress,
    )
    result.created += copied
    result.problems.extend(problems)


def legacy_import(
    *,
    source_url: str,
    only: set[str] | None = None,
    dry_run: bool = False,
    readings_since: datetime | None = None,
    chunk_rows: int = 200_000,
    jobs: int = 1,
    progress: ReadingProgress | None = None,
    on_part: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import the old platform at `source_url` (PostgreSQL) into this database (PostgreSQL: the
    readings are copied with COPY). `only`: the parts to run (`PARTS`; all when None).
    `readings_since`: copy only readings from then on. `dry_run`: everything but the readings
    is written and rolled back; readings are only counted. `jobs`: sensors whose readings are
    copied at the same time (each with its own connections). Returns what was created, what was
    there already and the problems."""
    if connection.vendor != "postgresql":
        raise NotSupportedError(
            "The import needs PostgreSQL as this project's database (readings arrive by COPY)."
        )
    parts = [part for part in PARTS if only is None or part in only]
    result = ImportResult(dry_run=dry_run)
    steps: dict[str, Callable[[_Source, PartResult], None]] = {
        "users": _import_users,
        "sensors": _import_sensors,
        "peaks": _import_peaks,
        "devices": _import_devices,
        "suggestions": _import_suggestions,
        "reports": _import_reports,
    }
    with source.source_connect(source_url) as conn:
        src = _Source(conn=conn, since=readings_since)
        # A dry run is one transaction rolled back; a real run commits row by row and chunk by
        # chunk, so a run cut off half-way keeps what it did.
        try:
            with transaction.atomic() if dry_run else contextlib.nullcontext():
                for part in parts:
                    if on_part is not None:
                        on_part(part)
                    part_result = result.parts.setdefault(part, PartResult())
                    if part == "readings":
                        if dry_run:
                            part_result.created = readings_pending(
                                work_sensors=id_map(kind=Kind.SENSOR_ID), stats=src.stats
                            )
                        else:
                            _import_readings(
                                src,
                                part_result,
                                source_url=source_url,
                                chunk_rows=chunk_rows,
                                jobs=jobs,
                                progress=progress,
                            )
                        continue
                    steps[part](src, part_result)
                if dry_run:
                    raise _DryRunDoneError
        except _DryRunDoneError:
            pass
    for line in result.problems:
        logger.warning("legacy import: %s", line)
    return result
