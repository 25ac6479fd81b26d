"""An open assignment period needs a household. Periods left open by a household deleted outside
`households_delete` (before this constraint) are closed first, at the time of the migration: the
readings before it stay labelled with the deleted household, as they were."""

from django.conf import settings
from django.db import migrations, models
from django.db.models.functions import Now


def close_orphaned_open_periods(apps, schema_editor):
    assignment = apps.get_model("sensors", "SensorAssignment")
    assignment.objects.filter(valid_to__isnull=True, user__isnull=True).update(valid_to=Now())


class Migration(migrations.Migration):
    dependencies = [
        ("sensors", "0008_sensor_assignment"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(close_orphaned_open_periods, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="sensorassignment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("valid_to__isnull", False), ("user__isnull", False), _connector="OR"
                ),
                name="sensor_assignment_open_has_household",
            ),
        ),
    ]
