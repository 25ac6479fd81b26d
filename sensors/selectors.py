"""Reads for sensors and readings."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from .models import Reading, Sensor


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


def sensor_latest_registers(*, client_ids: Sequence[str]) -> dict[str, Decimal]:
    """The value of each sensor's newest reading by client_id (upper case); sensors without
    readings and unknown client_ids are left out."""
    wanted = [client_id.upper() for client_id in client_ids]
    latest = Reading.objects.filter(sensor=OuterRef("pk")).order_by("-timestamp")
    rows = (
        Sensor.objects.filter(client_id__in=wanted)
        .annotate(latest_value=Subquery(latest.values("value")[:1]))
        .values_list("client_id", "latest_value")
    )
    return {client_id: value for client_id, value in rows if value is not None}
