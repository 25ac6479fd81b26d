"""Writes for sensors: registration, assignment, reset. Ingestion lives in `ingestion.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Min

from energyleaf.audit.services import audit_event_record
from energyleaf.users.models import User
from sensors.compute.mac import InvalidMacError, canonical_mac

from ..models import Reading, Sensor, SensorAssignment
from ..selectors.assignments import Period, periods_q, sensor_periods
from .assignments import assignment_sync


def _client_id_taken(client_id: str, *, exclude_pk: int | None = None) -> bool:
    queryset = Sensor.objects.filter(client_id=client_id)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


@transaction.atomic
def sensor_register(
    *,
    client_id: str,
    user: User | None,
    sensor_type: str = Sensor.SensorType.ELECTRICITY,
    script: str = "",
    analog_rotations_per_kwh: int | None = None,
    needs_script: bool | None = None,
    actor_id: int | None = None,
) -> Sensor:
    """Register a new sensor, optionally assigned to a household user.

    The MAC may be given in any spelling (colons, dashes, dots, none, any case); it is stored
    canonical (`AA:BB:CC:DD:EE:FF`) and must be new in every spelling. A sensor registered with a
    script or rotations needs to receive them (`needs_script` defaults to True then).
    Raises ValidationError on invalid or duplicate input; nothing is written in that case.
    """
    try:
        client_id = canonical_mac(client_id)
    except InvalidMacError as exc:
        raise ValidationError(
            {"client_id": "Enter a MAC address like AA:BB:CC:DD:EE:FF."}, code="invalid_mac"
        ) from exc
    if _client_id_taken(client_id):
        raise ValidationError({"client_id": f"A sensor with MAC {client_id} exists already."})
    if needs_script is None:
        needs_script = bool(script) or analog_rotations_per_kwh is not None
    sensor = Sensor(
        client_id=client_id,
        sensor_type=sensor_type,
        user=user,
        script=script,
        analog_rotations_per_kwh=analog_rotations_per_kwh,
        needs_script=needs_script,
    )
    sensor.full_clean()
    try:
        with transaction.atomic():
            sensor.save()
    except IntegrityError as exc:  # a concurrent registration of the same MAC or slot
        raise ValidationError(f"Sensor {client_id} could not be registered: {exc}") from exc
    if user is not None:
        # A new sensor's first period: from ASSIGNMENT_ORIGIN (no readings yet, no rollups).
        assignment_sync(sensor_id=sensor.pk, user_id=user.pk)
    audit_event_record(
        title="sensor/registered",
        app_function="sensor-register",
        app_component="admin",
        user_id=actor_id,
        sensor_id=sensor.pk,
        details={"client_id": client_id, "sensor_type": sensor_type, "user_id": sensor.user_id},
    )
    return sensor


@transaction.atomic
def sensor_assign(
    *, sensor: Sensor, user: User | None, actor_id: int | None = None, at: datetime | None = None
) -> Sensor:
    """Assign the sensor to `user` (or unassign with None). The open assignment period closes
    now and the new household's opens now (`assignment_sync`), so readings already stored stay
    the previous household's. Its live tokens are revoked, so a sensor moved to another
    household can never write into the old one's data. `at`: when the change takes effect
    (default now; a data import may give the moment the sensor really moved). Rollups are
    analytics': interfaces call `analytics.services.assignments.sensor_reassign`, which calls
    this and rebuilds them."""
    sensor = Sensor.objects.select_for_update().get(pk=sensor.pk)
    assignment_sync(sensor_id=sensor.pk, user_id=user.pk if user is not None else None, at=at)
    sensor.user = user
    sensor.full_clean()
    sensor.save(update_fields=["user", "updated_at"])
    revoked, _ = sensor.tokens.all().delete()
    audit_event_record(
        title="sensor/assigned",
        app_function="sensor-assign",
        app_component="admin",
        user_id=actor_id,
        sensor_id=sensor.pk,
        details={"user_id": sensor.user_id, "tokens_revoked": revoked},
    )
    return sensor


@dataclass(frozen=True, slots=True)
class SensorResetResult:
    """What a reset did. With readings deleted, `deleted_from` and `deleted_to` are the first and
    last timestamp among them and `kept_periods` the periods whose readings stayed, so that what
    was summed or detected from the deleted readings can follow."""

    tokens_revoked: int
    readings_deleted: int
    deleted_from: datetime | None = None
    deleted_to: datetime | None = None
    kept_periods: tuple[Period, ...] = ()


@transaction.atomic
def sensor_reset(
    *,
    sensor: Sensor,
    delete_readings: bool = False,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> SensorResetResult:
    """Reset a sensor: unassign it (its open assignment period ends now), revoke its tokens and
    mark that it needs its script again.

    Readings are research data and stay, unless `delete_readings` is explicitly asked for: then
    the readings that belong to no other household's period are deleted (those of the period
    just closed, and any outside every period); earlier households' readings stay theirs.
    `at`: when the period ends (default now). Interfaces call
    `analytics.services.assignments.sensor_reset_with_rollups`, which also rebuilds the rollups.
    """
    sensor = Sensor.objects.select_for_update().get(pk=sensor.pk)
    closing = (
        SensorAssignment.objects.filter(sensor=sensor, valid_to__isnull=True)
        .values_list("valid_from", flat=True)
        .first()
    )
    assignment_sync(sensor_id=sensor.pk, user_id=None, at=at)
    sensor.user = None
    sensor.needs_script = True
    sensor.save(update_fields=["user", "needs_script", "updated_at"])
    tokens_revoked, _ = sensor.tokens.all().delete()
    readings_deleted = 0
    span: dict[str, datetime | None] = {"first": None, "last": None}
    keep: list[Period] = []
    if delete_readings:
        keep = [period for period in sensor_periods(sensor_id=sensor.pk) if period.start != closing]
        doomed = Reading.objects.filter(sensor=sensor)
        if keep:
            doomed = doomed.exclude(periods_q(keep))
        span = doomed.aggregate(first=Min("timestamp"), last=Max("timestamp"))
        readings_deleted, _ = doomed.delete()
    audit_event_record(
        title="sensor/reset",
        app_function="sensor-reset",
        app_component="admin",
        user_id=actor_id,
        sensor_id=sensor.pk,
        details={"tokens_revoked": tokens_revoked, "readings_deleted": readings_deleted},
    )
    return SensorResetResult(
        tokens_revoked=tokens_revoked,
        readings_deleted=readings_deleted,
        deleted_from=span["first"],
        deleted_to=span["last"],
        kept_periods=tuple(keep),
    )


def sensor_tokens_revoke(*, sensor_ids: list[int], actor_id: int | None = None) -> int:
    """Delete every token of the given sensors; their clients must ask for a new one."""
    from ..models import SensorToken

    with transaction.atomic():
        deleted, _ = SensorToken.objects.filter(sensor_id__in=sensor_ids).delete()
        for sensor_id in sensor_ids:
            audit_event_record(
                title="sensor/tokens-revoked",
                app_function="sensor-tokens-revoke",
                app_component="admin",
                user_id=actor_id,
                sensor_id=sensor_id,
            )
    return deleted


def sensor_tokens_delete(*, token_ids: list[int], actor_id: int | None = None) -> int:
    """Delete single tokens (an admin revoking them); their clients must ask for a new one."""
    from ..models import SensorToken

    with transaction.atomic():
        rows = list(SensorToken.objects.filter(pk__in=token_ids).values_list("pk", "sensor_id"))
        SensorToken.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        for sensor_id in sorted({sensor_id for _, sensor_id in rows}):
            audit_event_record(
                title="sensor/tokens-revoked",
                app_function="sensor-tokens-revoke",
                app_component="admin",
                user_id=actor_id,
                sensor_id=sensor_id,
                details={"tokens": sum(1 for _, s in rows if s == sensor_id)},
            )
    return len(rows)


# The sensor settings support staff change (admin form and API alike).
SETTINGS_FIELDS = ("script", "analog_rotations_per_kwh", "needs_script")
_UNCHANGED: object = object()


@transaction.atomic
def sensor_settings_update(
    *,
    sensor: Sensor,
    script: str | object = _UNCHANGED,
    analog_rotations_per_kwh: int | object | None = _UNCHANGED,
    needs_script: bool | None = None,
    actor_id: int | None = None,
    app_component: str = "admin",
) -> Sensor:
    """Change a sensor's script, Ferraris rotations per kWh and `needs_script` flag; an argument
    left out keeps the stored value.

    `needs_script=None` (not given) sets the flag when the script or the rotations change, so the
    sensor receives them on its next token request (docs/protocol.md); an explicit True/False is
    stored as given. Records an audit event naming the changed fields and a history row.
    Raises ValidationError per field (`script` too long for the sensor's buffer, rotations below
    1, script and rotations both set); nothing is written in that case.
    """
    sensor = Sensor.objects.select_for_update().get(pk=sensor.pk)
    before = {name: getattr(sensor, name) for name in SETTINGS_FIELDS}
    if script is not _UNCHANGED:
        sensor.script = str(script)
    if analog_rotations_per_kwh is not _UNCHANGED:
        sensor.analog_rotations_per_kwh = analog_rotations_per_kwh  # type: ignore[assignment]
    delivered_changed = (sensor.script, sensor.analog_rotations_per_kwh) != (
        before["script"],
        before["analog_rotations_per_kwh"],
    )
    if needs_script is not None:
        sensor.needs_script = needs_script
    elif delivered_changed:
        sensor.needs_script = True
    if sensor.script and sensor.analog_rotations_per_kwh is not None:
        message = "Give either a script or analog rotations per kWh, not both."
        raise ValidationError({"script": message, "analog_rotations_per_kwh": message})
    sensor.full_clean(exclude=["client_id", "sensor_type", "version", "user"])
    changed = [name for name in SETTINGS_FIELDS if getattr(sensor, name) != before[name]]
    if not changed:
        return sensor
    sensor.save(update_fields=[*changed, "updated_at"])
    audit_event_record(
        title="sensor/settings-updated",
        app_function="sensor-settings-update",
        app_component=app_component,
        user_id=actor_id,
        sensor_id=sensor.pk,
        # The script itself can be long; its size says enough for the log.
        details={
            "changed": changed,
            "script_bytes": len(sensor.script.encode("utf-8")),
            "analog_rotations_per_kwh": sensor.analog_rotations_per_kwh,
            "needs_script": sensor.needs_script,
        },
    )
    return sensor
