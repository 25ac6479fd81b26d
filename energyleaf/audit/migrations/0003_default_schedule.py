"""Seed the default beat schedule (energyleaf/schedule.py) once; the admin's edits stay."""

from django.db import migrations

from energyleaf.schedule import schedule_seed

# Frozen here: a default entry added later gets its own migration, so an entry the admin deleted
# is never brought back.
NAMES = (
    "heartbeat",
    "detect-sequences",
    "suggestions-catch-up",
    "refresh-rollups",
    "reports",
    "anomaly-mails",
    "survey-routine",
    "cleanup-exports",
    "cleanup-retention",
)


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule_seed(apps=apps, names=NAMES)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
