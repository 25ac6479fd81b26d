"""Reads of sensors: the admin's list with each sensor's last reading, a household's own sensor,
the newest register values by client id."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from sensors.compute.mac import canonical_mac_or_none
from sensors.models import Reading, Sensor, SensorAssignment


def sensors_with_last_reading(queryset: QuerySet[Sensor] | None = None) -> QuerySet[Sensor]:
    """Sensors annotated with `last_reading_at` and `last_reading_value` (None without data) and
    the number of `live_tokens`.

    Each annotation is an index-only lookup on (sensor, timestamp), so it stays fast with
    millions of readings.
    """
    queryset = queryset if queryset is not None else Sensor.objects.all()
    latest = Reading.objects.filter(sensor=OuterRef("pk")).order_by("-timestamp")
    return queryset.annotate(
        last_reading_at=Subquery(latest.values("timestamp")[:1]),
        last_reading_value=Subquery(latest.values("value")[:1]),
        live_tokens=Count("tokens", filter=Q(tokens__expires_at__gt=timezone.now())),
    )


def household_sensor(*, owner_id: int | None, sensor_id: int | None) -> Sensor | None:
    """The sensor a household's data is read from, or None.

    With `sensor_id`: that sensor if the household (`owner_id`) holds or held it at any time (any
    sensor when `owner_id` is None). Without: the household's electricity sensor, the one it
    holds now or else the one it held last.
    """
    sensors = Sensor.objects.select_related("user__household")
    if sensor_id is not None:
        sensors = sensors.filter(pk=sensor_id)
        if owner_id is not None:
            sensors = sensors.filter(assignments__user_id=owner_id).distinct()
        return sensors.first()
    if owner_id is None:
        return None
    electricity = sensors.filter(sensor_type=Sensor.SensorType.ELECTRICITY)
    current = electricity.filter(user_id=owner_id).first()
    if current is not None:
        return current
    held = (
        SensorAssignment.objects.filter(
            user_id=owner_id, sensor__sensor_type=Sensor.SensorType.ELECTRICITY
        )
        .order_by("-valid_from")
        .values_list("sensor_id", flat=True)
        .first()
    )
    return None if held is None else electricity.filter(pk=held).first()


def household_sensors_held(*, user_id: int) -> list[Sensor]:
    """The sensors the household holds now, by type and MAC, each annotated with `held_since`
    (the start of its open period) and `last_reading_at` (its newest reading since then, None
    without one: an older reading is another household's)."""
    since = SensorAssignment.objects.filter(
        sensor=OuterRef("pk"), user_id=user_id, valid_to__isnull=True
    ).values("valid_from")[:1]
    latest = Reading.objects.filter(
        sensor=OuterRef("pk"), timestamp__gte=OuterRef("held_since")
    ).order_by("-timestamp")
    return list(
        Sensor.objects.filter(user_id=user_id)
        .annotate(held_since=Subquery(since))
        .annotate(last_reading_at=Subquery(latest.values("timestamp")[:1]))
        .order_by("sensor_type", "client_id")
    )


def sensor_latest_registers(*, client_ids: Sequence[str]) -> dict[str, Decimal]:
    """The value of each sensor's newest reading by its MAC (in the canonical spelling, whatever
    spelling was asked for); sensors without readings and unknown MACs are left out."""
    wanted = [mac for mac in (canonical_mac_or_none(c) for c in client_ids) if mac is not None]
    latest = Reading.objects.filter(sensor=OuterRef("pk")).order_by("-timestamp")
    rows = (
        Sensor.objects.filter(client_id__in=wanted)
        .annotate(latest_value=Subquery(latest.values("value")[:1]))
        .values_list("client_id", "latest_value")
    )
    return {client_id: value for client_id, value in rows if value is not None}
