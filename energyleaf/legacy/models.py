"""What the import from the old platform remembers between runs: which old row became which new
row (`LegacyIdMap`) and how far each sensor's readings were copied (`LegacyReadingProgress`)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from sensors.models import Sensor


class LegacyIdMap(models.Model):
    """One old row and the new row it became: `kind` names the old table (and the new model),
    `old_id` is the old primary key as text, `new_id` the new primary key. A row already mapped is
    never imported again."""

    class Kind(models.TextChoices):
        USER = "user", "user -> User"
        SENSOR = "sensor", "sensor (by MAC) -> Sensor"
        SENSOR_ID = "sensor_id", "sensor_id (one household's period) -> Sensor"
        SEQUENCE = "sequence", "sensor_data_sequence -> Sequence"
        DEVICE = "device", "device -> Device"
        DEVICE_PEAK = "device_peak", "device_to_peak -> DevicePeak"
        SUGGESTION = "suggestion", "device_suggestions_peak -> DeviceSuggestion"
        REPORT_CONFIG = "report_config", "report_config -> ReportSettings"
        REPORT = "report", "report_data -> Report"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    old_id = models.CharField(max_length=128)
    new_id = models.BigIntegerField()
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "imported row"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["kind", "old_id"], name="legacy_id_map_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.old_id} -> {self.new_id}"


class LegacyReadingProgress(models.Model):
    """How far the readings of one sensor (all its old `sensor_id`s) were copied: every reading
    up to and including `copied_until` is in. Advanced in the transaction that copies them."""

    sensor = models.OneToOneField(Sensor, on_delete=models.CASCADE, related_name="+")
    copied_until = models.DateTimeField(null=True, blank=True)
    readings_copied = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "legacy reading progress"

    def __str__(self) -> str:
        return f"{self.sensor_id}: {self.readings_copied} readings until {self.copied_until}"
