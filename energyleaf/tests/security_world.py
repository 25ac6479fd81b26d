"""Two households, A (the victim) and B (the attacker), and an admin, for the security tests.

A owns one of everything a household can own (sensor with readings and a live token, peaks,
devices, a power estimation, a report, report settings, experiment participation), marked with
strings that occur nowhere else, so a test can tell A's data in an answer body. `owned_rows`
snapshots every row that belongs to a user, found generically by following foreign keys, so a
model added later is covered without touching this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.apps import apps
from django.db import models

from analytics.models import (
    Device,
    DeviceCategory,
    DevicePowerEstimation,
    Sequence,
)
from analytics.tests.factories import (
    DeviceFactory,
    DevicePeakFactory,
    DeviceSuggestionFactory,
    SequenceFactory,
)
from energyleaf.tests.helpers import jwt_for
from energyleaf.users.models import ExperimentParticipation, User
from energyleaf.users.tests.factories import UserFactory
from reports.models import Report, ReportDay, ReportSettings
from sensors.models import Sensor
from sensors.services import sensor_register, sensor_token_issue
from sensors.tests.factories import make_readings

PROJECT_APPS = ("users", "audit", "sensors", "analytics", "exports", "reports")
READINGS_START = datetime(2024, 7, 1, 10, tzinfo=UTC)
PEAK_START = datetime(2024, 7, 1, 12, tzinfo=UTC)


@dataclass(slots=True)
class Household:
    user: User
    sensor: Sensor
    sensor_token: str
    peak: Sequence
    device: Device
    report: Report
    jwt: str
    markers: tuple[str, ...] = field(default=())


@dataclass(slots=True)
class World:
    a: Household
    b: Household
    admin: User
    admin_jwt: str


def _household(tag: str, mac: str) -> Household:
    user = UserFactory(
        email=f"{tag}-mail@example.org",
        username=f"{tag}-login",
        first_name=f"{tag}First",
        last_name=f"{tag}Last",
    )
    sensor = sensor_register(client_id=mac, user=user)
    make_readings(sensor, 40, start=READINGS_START)
    token = sensor_token_issue(client_id=mac, need_script=False).access_token
    peak = SequenceFactory(
        sensor=sensor,
        start=PEAK_START,
        average_power_w=2150.0,
        average_peak_power_w=2100.0,
        energy_kwh=0.18,
    )
    device = DeviceFactory(
        user=user,
        name=f"{tag}-kettle",
        category=DeviceCategory.KETTLE,
        power_w=2000.0,
        is_power_estimated=True,
    )
    DevicePeakFactory(device=device, sequence=peak)
    DeviceSuggestionFactory(
        sequence=peak, category="kettle", probability=0.9, model_version="walk-v1"
    )
    DevicePowerEstimation.objects.create(user=user, quality="good", peaks_used=3, r_squared=0.9)
    report = Report.objects.create(
        user=user,
        period_start=datetime(2024, 6, 30, 22, tzinfo=UTC),
        period_end=datetime(2024, 7, 1, 22, tzinfo=UTC),
        first_day=date(2024, 7, 1),
        last_day=date(2024, 7, 1),
        time_zone="Europe/Berlin",
        total_consumption_kwh=Decimal("0.39"),
    )
    ReportDay.objects.create(report=report, day=date(2024, 7, 1), consumption_kwh=Decimal("0.39"))
    ReportSettings.objects.create(user=user, interval_days=3, local_hour=7)
    ExperimentParticipation.objects.update_or_create(
        user=user, defaults={"status": ExperimentParticipation.Status.APPROVED}
    )
    markers = (user.email, user.username, user.first_name, user.last_name, mac, device.name)
    return Household(user, sensor, token, peak, device, report, jwt_for(user), markers)


def world_build() -> World:
    """A (victim), B (attacker) and an admin; needs database access."""
    a = _household("victimA7q3", "A1:A2:A3:7F:3C:9E")
    b = _household("intruderB5k8", "B1:B2:B3:5D:8E:21")
    admin = UserFactory(is_staff=True, is_superuser=True, email="walk-admin@example.org")
    return World(a=a, b=b, admin=admin, admin_jwt=jwt_for(admin))


@cache
def _user_paths() -> tuple[tuple[type[models.Model], str], ...]:
    """(model, lookup to the owning user's pk) for every project model that has an owner.

    Breadth-first along forward foreign keys and one-to-one fields (at most three hops), so
    `ReportDay` is owned through `report__user` and `DevicePeak` through `device__user`.
    """
    user_model = apps.get_model("users", "User")
    found: list[tuple[type[models.Model], str]] = [(user_model, "pk")]
    for config in apps.get_app_configs():
        if config.label not in PROJECT_APPS:
            continue
        for model in config.get_models():
            if model is user_model:
                continue
            path = _path_to(model, user_model, depth=3)
            if path is not None:
                found.append((model, path))
    return tuple(found)


def _path_to(model: type[models.Model], target: type[models.Model], depth: int) -> str | None:
    frontier: list[tuple[type[models.Model], str]] = [(model, "")]
    for _ in range(depth):
        following: list[tuple[type[models.Model], str]] = []
        for current, prefix in frontier:
            for fk in current._meta.get_fields():
                if not (fk.is_relation and (fk.many_to_one or fk.one_to_one) and fk.concrete):
                    continue
                related = fk.related_model
                if related is None or isinstance(related, str):
                    continue
                name = f"{prefix}{fk.name}"
                if related is target and not fk.name.startswith("history_"):
                    return name
                following.append((related, f"{name}__"))
        frontier = following
    return None


def owned_rows(user: User) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of every project model that belongs to `user`, keyed by model and pk."""
    snapshot: dict[str, dict[Any, dict[str, Any]]] = {}
    for model, path in _user_paths():
        key = model._meta.pk.attname  # type: ignore[union-attr]
        rows = model._default_manager.filter(**{path: user.pk}).values()
        snapshot[model._meta.label] = {row[key]: row for row in rows}
    return snapshot


def rows_diff(
    before: dict[str, dict[Any, dict[str, Any]]], after: dict[str, dict[Any, dict[str, Any]]]
) -> list[str]:
    """Human-readable differences between two `owned_rows` snapshots."""
    changes: list[str] = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        for pk in sorted(set(old) | set(new), key=str):
            if pk not in new:
                changes.append(f"{label} #{pk} deleted")
            elif pk not in old:
                changes.append(f"{label} #{pk} created")
            elif old[pk] != new[pk]:
                fields = sorted(k for k in old[pk] if old[pk][k] != new[pk].get(k))
                changes.append(f"{label} #{pk} changed {fields}")
    return changes
