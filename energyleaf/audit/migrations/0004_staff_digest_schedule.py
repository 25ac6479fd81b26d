"""Seed the beat entry of the staff daily digest (energyleaf/schedule.py, `staff-digest`) once;
the hour the admin sets afterwards stays."""

from django.db import migrations

from energyleaf.schedule import schedule_seed

NAMES = ("staff-digest",)


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    schedule_seed(apps=apps, names=NAMES)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_default_schedule"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
