"""The staff roles: groups of Django model permissions.

* administrator: every permission (granted again after each `migrate`, so permissions of new
  models join it); still not a superuser: promoting to superuser and changing a superuser's
  account stay with superusers.
* researcher: reads the study data (readings, peaks, devices, suggestions, households,
  experiment participation, rollups, reports) and runs research exports; changes nothing else.
* support: keeps sensors running (view and change sensors, assign, reset, revoke tokens) and
  reads rejected readings and meter events; no study data, no exports.

The groups are created by the data migration `users.0004_role_groups` (with the definitions as
they were then); `roles_ensure` (run after every `migrate`) creates a missing role group with the
definition below and keeps the administrator group complete. It never removes a permission an
operator granted, nor changes an existing researcher or support group.
"""

from __future__ import annotations

from typing import Any

ADMINISTRATOR = "administrator"
RESEARCHER = "researcher"
SUPPORT = "support"

# Every permission of the installed apps.
ALL_PERMISSIONS = "*"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ADMINISTRATOR: (ALL_PERMISSIONS,),
    RESEARCHER: (
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
        "users.view_experimentstatustransition",
        "reports.view_surveyinvitation",
        "exports.view_exportjob",
        "exports.add_exportjob",
        "exports.change_exportjob",
        "exports.download_exportjob",
        "exports.view_experimentexportmark",
        "exports.add_experimentexportmark",
        "exports.download_experiment_csv",
    ),
    SUPPORT: (
        # Only the account (e-mail, name) to pick a household when assigning a sensor; the
        # household and experiment data are other models.
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


def permissions_of(*, permission_model: Any, names: tuple[str, ...], using: str) -> list[Any]:
    """The Permission rows for `names` (`app_label.codename`, or `*` for all).

    Raises LookupError naming a permission that does not exist (a typo, a removed model, or an
    app whose permissions are not created yet).
    """
    rows = permission_model.objects.using(using)
    if ALL_PERMISSIONS in names:
        return list(rows.all())
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        row = rows.filter(content_type__app_label=app_label, codename=codename).first()
        if row is None:
            raise LookupError(f"Permission {name} does not exist.")
        found.append(row)
    return found


def roles_ensure(*, group_model: Any, permission_model: Any, using: str = "default") -> None:
    """Create each missing role group whose permissions all exist, with those permissions;
    grant the administrator group every permission. Idempotent; removes nothing."""
    groups = group_model.objects.using(using)
    for name, names in ROLE_PERMISSIONS.items():
        group = groups.filter(name=name).first()
        if group is not None and ALL_PERMISSIONS not in names:
            continue
        try:
            rows = permissions_of(permission_model=permission_model, names=names, using=using)
        except LookupError:
            continue  # not every app's permissions exist yet; a later app's signal creates it
        if group is None:
            group = groups.create(name=name)
        group.permissions.add(*rows)
