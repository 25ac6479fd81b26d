"""The default Celery beat schedule: seeded once into django-celery-beat's tables, then the admin's.

Beat runs django-celery-beat's DatabaseScheduler, which reads the schedule from the database
(admin -> Periodic tasks). The entries below are written there by data migrations of the audit
app (the bottom layer, present in every deployment): each migration seeds the entries it names,
and only those that do not exist yet. An entry the admin edited, disabled or deleted is never
touched again, so a changed time survives restarts and upgrades. A new default entry needs a new
migration that calls `schedule_seed` with its name.

All times are UTC (`CELERY_TIMEZONE`). Tasks are referred to by name only: this module imports
no app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class ScheduleEntry:
    """One periodic task: its unique `name` in the admin, the Celery `task` name and a crontab
    (fields as in cron; `*` is every value)."""

    name: str
    task: str
    minute: str
    hour: str = "*"
    description: str = ""


DEFAULT_SCHEDULE: tuple[ScheduleEntry, ...] = (
    ScheduleEntry(
        "heartbeat",
        "audit.heartbeat",
        minute="*",
        description="Every minute: proves that worker and beat are alive (the heartbeat row "
        "that /health reads).",
    ),
    ScheduleEntry(
        "detect-sequences",
        "analytics.detect_sequences_fanout",
        minute="0,30",
        description="At :00 and :30 (the old mark_peaks and anomaly crons): peaks and anomalies "
        "of the half hour that just ended, and of any half hours missed before.",
    ),
    ScheduleEntry(
        "suggestions-catch-up",
        "analytics.suggest_devices_catch_up",
        minute="20",
        description="Hourly at :20: device suggestions for recent peaks that missed theirs "
        "(task lost, peak grown, new model).",
    ),
    ScheduleEntry(
        "refresh-rollups",
        "analytics.refresh_rollups",
        minute="*/5",
        description="Every 5 minutes: fold newly received (and late) readings into the "
        "15-minute rollups.",
    ),
    ScheduleEntry(
        "reports",
        "reports.generate_due_reports",
        minute="0",
        description="Hourly at :00: build the reports that are due in each household's own "
        "time zone.",
    ),
    ScheduleEntry(
        "anomaly-mails",
        "reports.send_anomaly_mails",
        minute="5,35",
        description="At :05 and :35, after detection: mail households about new anomalies.",
    ),
    ScheduleEntry(
        "survey-routine",
        "reports.survey_routine",
        minute="15",
        hour="6",
        description="Daily at 06:15 UTC (morning in Europe): advance participants due for "
        "survey 2 or 3 and invite them.",
    ),
    ScheduleEntry(
        "staff-digest",
        "reports.send_staff_digest",
        minute="30",
        hour="6",
        description="Daily at 06:30 UTC (set the hour here): mail support staff what needs "
        "looking after (silent sensors, meter events, failed jobs and mails, unusual rejected "
        "readings of the last 24 h); nothing when there is nothing to say.",
    ),
    ScheduleEntry(
        "cleanup-exports",
        "exports.cleanup_exports",
        minute="17",
        hour="3",
        description="Daily at 03:17: delete research exports past retention, re-queue stuck "
        "export jobs.",
    ),
    ScheduleEntry(
        "cleanup-retention",
        "reports.cleanup_retention",
        minute="47",
        hour="3",
        description="Daily at 03:47: delete what is past its retention (audit events, rejected "
        "readings, raw readings already in the rollups when a reading retention is set).",
    ),
)
"""The defaults, in the order they appear in the admin."""


def default_entry(name: str) -> ScheduleEntry:
    """The default entry called `name` (KeyError when there is none)."""
    for entry in DEFAULT_SCHEDULE:
        if entry.name == name:
            return entry
    raise KeyError(name)


def schedule_seed(*, apps: Any, names: tuple[str, ...] | list[str]) -> list[str]:
    """Create the default entries `names` that do not exist yet (by name); return those created.

    `apps` is a migration's app registry (or `django.apps.apps`). Existing entries, whatever the
    admin made of them, stay as they are; names without a default entry are skipped. Marks the
    schedule as changed so a running beat reloads it.
    """
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    changes = apps.get_model("django_celery_beat", "PeriodicTasks")
    known = {entry.name: entry for entry in DEFAULT_SCHEDULE}
    created: list[str] = []
    for name in names:
        entry = known.get(name)
        if entry is None or periodic_task.objects.filter(name=name).exists():
            continue
        fields = {
            "minute": entry.minute,
            "hour": entry.hour,
            "day_of_week": "*",
            "day_of_month": "*",
            "month_of_year": "*",
            "timezone": "UTC",
        }
        schedule = crontab.objects.filter(**fields).first() or crontab.objects.create(**fields)
        periodic_task.objects.create(
            name=entry.name, task=entry.task, crontab=schedule, description=entry.description
        )
        created.append(name)
    if created:
        changes.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return created
