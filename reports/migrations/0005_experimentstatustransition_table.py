"""First step of moving `ExperimentStatusTransition` to the users app (with the participation it
records): its table takes the users app's name. Rows, indexes and keys stay. Next:
`users.0005_experimentstatustransition` (takes the model over) and
`reports.0006_delete_experimentstatustransition` (lets it go)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0004_mail_delivery'),
    ]

    operations = [
        migrations.AlterModelTable(
            name='experimentstatustransition',
            table='users_experimentstatustransition',
        ),
    ]
