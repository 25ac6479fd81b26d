"""Records of the participant export: who marked which participant as exported, and when."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from energyleaf.users.models import ExperimentParticipation


class ExperimentExportMark(models.Model):
    """One participant marked as exported to the survey tool by an admin (reference §6.2 did this
    as a side effect of the GET; here it is an explicit, recorded action)."""

    participation = models.ForeignKey(
        ExperimentParticipation, on_delete=models.CASCADE, related_name="export_marks"
    )
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="experiment_export_marks",
    )
    exported_at = models.DateTimeField()

    class Meta:
        indexes: ClassVar = [models.Index(fields=["participation", "exported_at"])]

    def __str__(self) -> str:
        return f"{self.participation_id} exported at {self.exported_at:%Y-%m-%d %H:%M}"
