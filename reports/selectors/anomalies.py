"""Reads for reports: anomalies to notify and notification rows to work on."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from analytics.models import Sequence
from reports.models import AnomalyNotification, MailStatus


def anomalies_without_notification(*, detected_since: datetime) -> QuerySet[Sequence]:
    """Anomaly sequences detected at or after `detected_since` (aware UTC) in a household's
    time with a sensor (`household_key`) and that have no notification row yet, oldest first."""
    return (
        Sequence.objects.filter(
            kind=Sequence.Kind.ANOMALY,
            detected_at__gte=detected_since,
            household_key__gt=0,
            anomaly_notification__isnull=True,
        )
        .select_related("sensor")
        .order_by("detected_at", "pk")
    )


def anomaly_notification_ids_due(*, detected_since: datetime, max_attempts: int) -> list[int]:
    """IDs of pending notifications and failed ones with fewer than `max_attempts` attempts,
    whose anomaly was detected at or after `detected_since` (aware UTC), oldest first."""
    return list(
        AnomalyNotification.objects.filter(
            AnomalyNotification.mail_due_filter(max_attempts=max_attempts),
            sequence__detected_at__gte=detected_since,
        )
        .order_by("sequence__detected_at", "pk")
        .values_list("pk", flat=True)
    )


def anomaly_mail_sent_recently(
    *, sensor_id: int, since: datetime, exclude_id: int | None = None
) -> bool:
    """Whether an anomaly mail for the sensor was sent at or after `since` (aware UTC)."""
    queryset = AnomalyNotification.objects.filter(
        sensor_id=sensor_id, mail_status=MailStatus.SENT, mail_sent_at__gte=since
    )
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.exists()
