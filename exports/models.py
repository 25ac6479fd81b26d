"""Records of the exports: participants marked as exported (who and when), and research dataset
export jobs."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from energyleaf.common.models import TimestampedModel
from energyleaf.users.models import ExperimentParticipation, Household


class ExperimentExportMark(models.Model):
    """One participant marked as exported to the survey tool by an admin (the old platform did this
    as a side effect of the GET; here it is an explicit, recorded action: docs/design.md,
    difference 11)."""

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
        permissions: ClassVar = [
            (
                "download_experiment_csv",
                "Can download the participants' experiment CSV (names, e-mail addresses)",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participation_id} exported at {self.exported_at:%Y-%m-%d %H:%M}"


class ExportJob(TimestampedModel):
    """A research dataset export requested by an admin: which households (or all),
    which UTC range [start, end) (open when empty), readings and/or sequences. A Celery task
    writes gzip CSV files (with the households file), their Parquet editions and a manifest under
    EXPORTS_ROOT/job-<id>/ and drives the status:
    pending → running → succeeded or failed; succeeded → expired when the clean-up deleted the
    files. `rows_written`/`rows_expected` is the progress; `checksums` maps file name to SHA-256."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="export_jobs",
    )
    households = models.ManyToManyField(
        Household,
        blank=True,
        related_name="export_jobs",
        help_text="Households to export; none selected: every household.",
    )
    all_households = models.BooleanField(
        default=False,
        help_text="Every household (set when none was selected); a selection whose households "
        "were deleted since exports nothing rather than everyone.",
    )
    start = models.DateTimeField(null=True, blank=True, help_text="UTC, included; empty: open.")
    end = models.DateTimeField(null=True, blank=True, help_text="UTC, excluded; empty: open.")
    include_readings = models.BooleanField(default=True)
    include_sequences = models.BooleanField(default=True, help_text="Peaks and anomalies.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last progress of the running task."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    rows_expected = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    file_path = models.CharField(
        max_length=500, blank=True, help_text="Folder of the files, relative to EXPORTS_ROOT."
    )
    size_bytes = models.BigIntegerField(null=True, blank=True)
    checksums = models.JSONField(default=dict, blank=True, help_text="File name → SHA-256.")

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(include_readings=True) | models.Q(include_sequences=True),
                name="export_job_includes_something",
            ),
            models.CheckConstraint(
                condition=models.Q(start__isnull=True)
                | models.Q(end__isnull=True)
                | models.Q(end__gt=models.F("start")),
                name="export_job_end_after_start",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["status", "finished_at"])]
        permissions: ClassVar = [
            ("download_exportjob", "Can download the files of export jobs"),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.status})"
