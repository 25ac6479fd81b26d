"""Last step of moving `ExperimentStatusTransition` to the users app: the reports app forgets the
model. Nothing happens in the database (the table belongs to `users` now)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0005_experimentstatustransition_table'),
        ('users', '0005_experimentstatustransition'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ExperimentStatusTransition')],
            database_operations=[],
        ),
    ]
