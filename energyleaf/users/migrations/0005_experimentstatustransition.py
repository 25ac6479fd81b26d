"""`ExperimentStatusTransition` moves from the reports app to the users app, which owns the
participation status (its one writer is `participation_status_change`).

The table was renamed by `reports.0005_experimentstatustransition_table`; here the users app takes
the model over without touching the database, with a new transition source (`export_mark`, a
choice only). Its content type moves with it, so its permissions (the researcher role's view
permission), the groups and users holding them and the admin log entries stay attached.
"""

import django.db.models.deletion
from django.db import migrations, models

MODEL = "experimentstatustransition"
STATUSES = [
    ('registered', 'Registered'),
    ('approved', 'Approved'),
    ('dismissed', 'Dismissed'),
    ('exported', 'Exported'),
    ('first_survey', 'First survey'),
    ('first_finished', 'First survey finished'),
    ('installation', 'Installation'),
    ('second_survey', 'Second survey'),
    ('second_finished', 'Second survey finished'),
    ('third_survey', 'Third survey'),
    ('third_finished', 'Third survey finished'),
    ('deinstallation', 'Deinstallation'),
    ('inactive', 'Inactive'),
]


def _move_content_type(apps, schema_editor, old_app, new_app):
    alias = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    LogEntry = apps.get_model("admin", "LogEntry")
    content_types = ContentType.objects.using(alias)
    source = content_types.filter(app_label=old_app, model=MODEL).first()
    if source is None:
        return  # a database without content types yet: they are created after the migration
    target = content_types.filter(app_label=new_app, model=MODEL).first()
    if target is None:
        source.app_label = new_app
        source.save(update_fields=["app_label"])
        return
    # Both exist (a `migrate` stopped in between created the new one): keep the new one and hand
    # it the old one's grants and log entries.
    permissions = Permission.objects.using(alias)
    for permission in permissions.filter(content_type=source):
        twin = permissions.filter(content_type=target, codename=permission.codename).first()
        if twin is None:
            permission.content_type = target
            permission.save(update_fields=["content_type"])
            continue
        twin.group_set.add(*permission.group_set.all())
        twin.user_set.add(*permission.user_set.all())
    LogEntry.objects.using(alias).filter(content_type=source).update(content_type=target)
    source.delete()


def content_type_to_users(apps, schema_editor):
    _move_content_type(apps, schema_editor, "reports", "users")


def content_type_to_reports(apps, schema_editor):
    _move_content_type(apps, schema_editor, "users", "reports")


class Migration(migrations.Migration):

    dependencies = [
        ('users', '0004_role_groups'),
        ('reports', '0005_experimentstatustransition_table'),
        ('admin', '0003_logentry_add_action_flag_choices'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExperimentStatusTransition',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('from_status', models.CharField(choices=STATUSES, max_length=32)),
                        ('to_status', models.CharField(choices=STATUSES, max_length=32)),
                        ('changed_at', models.DateTimeField()),
                        ('source', models.CharField(choices=[('survey_routine', 'Daily survey routine'), ('export_mark', 'Marked as exported')], max_length=32)),
                        ('participation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='status_transitions', to='users.experimentparticipation')),
                    ],
                    options={
                        'indexes': [models.Index(fields=['participation', 'changed_at'], name='exp_transition_part_at')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_users, content_type_to_reports),
    ]
