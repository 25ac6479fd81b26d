from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One audit-log row (reference `logs`): a title such as `sensor/token-sent`, a type, the
    function and component that wrote it, and JSON details. Never holds tokens or passwords.

    `sensor_id` is a plain column, not a foreign key, because sensors sit above this app.
    """

    class LogType(models.TextChoices):
        ACTION = "action", "Action"
        ERROR = "error", "Error"
        INFO = "info", "Info"

    class Component(models.TextChoices):
        API = "api", "API"
        ADMIN = "admin", "Admin"
        WORKER = "worker", "Worker"
        WEB = "web", "Web"

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    title = models.CharField(max_length=200, db_index=True)
    log_type = models.CharField(max_length=16, choices=LogType.choices, default=LogType.INFO)
    app_function = models.CharField(max_length=100)
    app_component = models.CharField(
        max_length=16, choices=Component.choices, default=Component.API
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sensor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["title", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.title}"


class Heartbeat(models.Model):
    """The last time a periodic liveness signal arrived, one row per source (`celery` for beat
    and a worker together): state, not history, so it never grows. Read by `/health`."""

    name = models.CharField(max_length=50, unique=True)
    last_at = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0, help_text="Ticks received since creation.")

    def __str__(self) -> str:
        return f"{self.name} at {self.last_at:%Y-%m-%d %H:%M:%S}"
