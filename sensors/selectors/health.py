"""Reads for staff about the sensors that need looking after (the staff daily digest): sensors
of active households that fell silent, unresolved refusals per sensor and the meter events
recorded in a window. Times are UTC; the latest reading comes from `readings.py`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, Subquery

from ..models import MeterEvent, RejectedReading, Sensor, SensorAssignment
from .readings import latest_reading_of_sensor


@dataclass(frozen=True)
class SilentSensor:
    """A sensor an active household holds that sent nothing since `silent_since`: its newest
    reading's time, or when it was assigned when that is later (or there is no reading).
    `assigned_at` is the start of its open assignment period, but not before the sensor was
    registered (a first period starts at `ASSIGNMENT_ORIGIN`, whatever the day)."""

    sensor_id: int
    client_id: str
    sensor_type: str
    household_id: int
    last_reading_at: datetime | None
    assigned_at: datetime | None

    @property
    def silent_since(self) -> datetime | None:
        known = [moment for moment in (self.last_reading_at, self.assigned_at) if moment]
        return max(known) if known else None


@dataclass(frozen=True)
class SensorRefusals:
    """The unresolved refusals of one sensor received in a window: in all and per reason."""

    sensor_id: int
    client_id: str
    total: int
    by_reason: dict[str, int]

    @property
    def main_reason(self) -> str:
        """The most frequent reason (ties: alphabetical)."""
        return min(self.by_reason, key=lambda reason: (-self.by_reason[reason], reason))


@dataclass(frozen=True)
class MeterEventRecord:
    """A meter event as staff see it in the digest."""

    event_id: int
    sensor_id: int
    client_id: str
    kind: str
    occurred_at: datetime
    previous_value: Decimal | None
    new_value: Decimal
    created_at: datetime


def sensors_silent(*, cutoff: datetime) -> list[SilentSensor]:
    """Sensors held by an active household that sent no reading stamped at or after `cutoff`
    and were registered and assigned to it before `cutoff` (a sensor assigned since has its
    grace time), the longest silent first. One query; the newest reading is an index-only
    lookup per sensor."""
    open_since = SensorAssignment.objects.filter(
        sensor=OuterRef("pk"), valid_to__isnull=True
    ).values("valid_from")[:1]
    rows = (
        Sensor.objects.filter(user__isnull=False, user__is_active=True, created_at__lt=cutoff)
        .annotate(
            last_reading_at=latest_reading_of_sensor("timestamp"),
            assigned_at=Subquery(open_since),
        )
        .filter(Q(last_reading_at__lt=cutoff) | Q(last_reading_at__isnull=True))
        .filter(Q(assigned_at__lt=cutoff) | Q(assigned_at__isnull=True))
        .values_list(
            "pk",
            "client_id",
            "sensor_type",
            "user_id",
            "last_reading_at",
            "assigned_at",
            "created_at",
        )
    )
    found = [
        SilentSensor(
            sensor_id=pk,
            client_id=client_id,
            sensor_type=sensor_type,
            household_id=user_id,
            last_reading_at=last_reading_at,
            assigned_at=max(assigned_at, created_at) if assigned_at else created_at,
        )
        for pk, client_id, sensor_type, user_id, last_reading_at, assigned_at, created_at in rows
    ]
    return sorted(
        found,
        key=lambda sensor: (
            sensor.silent_since is not None,
            sensor.silent_since or cutoff,
            sensor.client_id,
        ),
    )


def refusals_by_sensor(*, since: datetime, until: datetime) -> list[SensorRefusals]:
    """Per sensor with any: the refused readings received in [since, until) that were not
    resolved later (a confirmed meter replacement stores them after all), ordered by client
    id. One grouped query."""
    rows = (
        RejectedReading.objects.filter(
            received_at__gte=since, received_at__lt=until, resolved_at__isnull=True
        )
        .values("sensor_id", "sensor__client_id", "reason")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("sensor_id", "sensor__client_id", "reason", "count")
    )
    clients: dict[int, str] = {}
    reasons: dict[int, dict[str, int]] = defaultdict(dict)
    for sensor_id, client_id, reason, count in rows:
        clients[sensor_id] = client_id
        reasons[sensor_id][reason] = int(count)
    return sorted(
        (
            SensorRefusals(
                sensor_id=sensor_id,
                client_id=clients[sensor_id],
                total=sum(by_reason.values()),
                by_reason=by_reason,
            )
            for sensor_id, by_reason in reasons.items()
        ),
        key=lambda refusals: refusals.client_id,
    )


def meter_events_recorded(*, since: datetime, until: datetime) -> list[MeterEventRecord]:
    """The meter events recorded (`created_at`) in [since, until), oldest first, whatever time
    they happened at."""
    rows = (
        MeterEvent.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by("created_at", "pk")
        .values_list(
            "pk",
            "sensor_id",
            "sensor__client_id",
            "kind",
            "occurred_at",
            "previous_value",
            "new_value",
            "created_at",
        )
    )
    return [
        MeterEventRecord(
            event_id=pk,
            sensor_id=sensor_id,
            client_id=client_id,
            kind=kind,
            occurred_at=occurred_at,
            previous_value=previous_value,
            new_value=new_value,
            created_at=created_at,
        )
        for pk, sensor_id, client_id, kind, occurred_at, previous_value, new_value, created_at in (
            rows
        )
    ]
