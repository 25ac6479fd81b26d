"""Reports data: one notification row per detected anomaly (the anomaly mail's state machine)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from analytics.models import Sequence
from sensors.models import Sensor


class AnomalyNotification(models.Model):
    """The anomaly mail for one anomaly `Sequence`: at most one row per sequence, so a sequence is
    mailed at most once. `pending` rows wait for the next run; `failed` rows are retried until
    `attempts` reaches the limit; `skipped` rows name their `skip_reason`. Times are UTC."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class SkipReason(models.TextChoices):
        OPTED_OUT = "opted_out", "Household opted out"
        RATE_LIMITED = "rate_limited", "A mail for this sensor was sent within 24 hours"
        INACTIVE = "inactive", "User inactive or without e-mail"

    sequence = models.OneToOneField(
        Sequence, on_delete=models.CASCADE, related_name="anomaly_notification"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="anomaly_notifications"
    )
    sensor = models.ForeignKey(
        Sensor, on_delete=models.CASCADE, related_name="anomaly_notifications"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    skip_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(
                    models.Q(status="skipped", skip_reason__gt="")
                    | (~models.Q(status="skipped") & models.Q(skip_reason=""))
                ),
                name="anomaly_notification_skip_reason_iff_skipped",
            ),
            models.CheckConstraint(
                condition=models.Q(status="sent", sent_at__isnull=False) | ~models.Q(status="sent"),
                name="anomaly_notification_sent_has_time",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["sensor", "status", "sent_at"], name="anomaly_notif_sensor_sent"),
            models.Index(fields=["status", "created_at"], name="anomaly_notif_status_created"),
        ]

    def __str__(self) -> str:
        return f"anomaly mail for sequence {self.sequence_id}: {self.status}"
