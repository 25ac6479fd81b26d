"""The staff roles as groups of model permissions: administrator, researcher, support.

Runs after every app's models exist (the dependencies below) and creates their permissions
first (`create_permissions` normally runs only after the whole `migrate`). The definitions are
frozen here as they were when the roles were introduced; `energyleaf/users/services/roles.py` holds the
current ones (it re-creates a missing group and keeps the administrator group complete after
every `migrate`). Changing a role later takes a new data migration.
"""

from django.db import migrations

ROLES = {
    "administrator": ("*",),
    "researcher": (
        "users.view_user",
        "users.view_household",
        "users.view_experimentparticipation",
        "sensors.view_sensor",
        "sensors.view_reading",
        "analytics.view_sequence",
        "analytics.view_device",
        "analytics.view_devicepeak",
        "analytics.view_devicesuggestion",
        "analytics.view_devicepowerestimation",
        "analytics.view_consumptionrollup",
        "analytics.classify_peaks",
        "reports.view_report",
        "reports.view_reportday",
        "reports.view_reportsettings",
        "reports.view_anomalynotification",
        "reports.view_experimentstatustransition",
        "reports.view_surveyinvitation",
        "exports.view_exportjob",
        "exports.add_exportjob",
        "exports.change_exportjob",
        "exports.download_exportjob",
        "exports.view_experimentexportmark",
        "exports.add_experimentexportmark",
        "exports.download_experiment_csv",
    ),
    "support": (
        "users.view_user",
        "sensors.view_sensor",
        "sensors.change_sensor",
        "sensors.reset_sensor",
        "sensors.revoke_tokens",
        "sensors.view_sensortoken",
        "sensors.view_rejectedreading",
        "sensors.view_meterevent",
    ),
}


def create_role_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    alias = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, which create_permissions skips.
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=alias, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.using(alias).get_or_create(name=name)
        if perms == ("*",):
            group.permissions.add(*Permission.objects.using(alias).all())
            continue
        rows = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            rows.append(
                Permission.objects.using(alias).get(
                    content_type__app_label=app_label, codename=codename
                )
            )
        group.permissions.add(*rows)


def delete_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0003_user_deactivate_permission"),
        ("audit", "0001_initial"),
        ("sensors", "0007_sensor_reset_revoke_permissions"),
        ("analytics", "0004_devicesuggestion_classify_permission"),
        ("exports", "0003_export_permissions"),
        ("reports", "0003_report_mails_day_cost_survey_routine"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_role_groups, delete_role_groups)]
