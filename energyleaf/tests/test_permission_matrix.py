"""The permission matrix: every admin action, custom admin view and API operation, tried by
every kind of caller, against an explicit table of who may.

Callers (ROLES): a superuser, staff in each role group (administrator, researcher, support),
staff without any permission, household A (the owner of everything the requests name),
household B and an anonymous stranger.

Operations are discovered, not listed by hand: the actions of every ModelAdmin registered on the
admin site (`delete_selected` included), the admin views beyond the standard ones (`get_urls`),
and every operation of the OpenAPI schema. An operation the tables below do not know fails the
test naming it, so a new action, view or endpoint gets its row before it ships.

Each cell runs inside a savepoint that is rolled back, so cells are independent. A cell allowed
by the table must be let in and have its effect (rows changed, a file downloaded, a page shown);
a refused cell must not be offered (admin actions), must be answered with a refusal, must leak
none of A's marker strings and must leave every row of the database as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser, Group
from django.db import models, transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, reverse
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.test import APIClient

from analytics.models import ConsumptionRollup, Sequence
from energyleaf.audit.models import AuditEvent, Heartbeat
from energyleaf.tests.helpers import jwt_for
from energyleaf.tests.security_world import World, world_build
from energyleaf.tests.test_security_walk import OPERATIONS, OWNER_STATUS, PUBLIC, Operation, fill
from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition, User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from exports.models import ExperimentExportMark, ExportJob
from reports.models import (
    AnomalyNotification,
    Report,
    StaffDigest,
    StaffDigestMail,
    SurveyInvitation,
)
from sensors.models import MeterEvent, RejectedReading
from sensors.services import sensor_register

pytestmark = pytest.mark.django_db

# --- Callers --------------------------------------------------------------------------------------
SU = "superuser"
ADM = "administrator"
RES = "researcher"
SUP = "support"
STAFF = "staff without permissions"
HH_A = "household A"
HH_B = "household B"
ANON = "stranger"
ROLES = (SU, ADM, RES, SUP, STAFF, HH_A, HH_B, ANON)

NOBODY: frozenset[str] = frozenset()
ADMINS = frozenset({SU, ADM})
READERS = frozenset({SU, ADM, RES})  # the study data
SENSOR_KEEPERS = frozenset({SU, ADM, SUP})
LOGGED_IN = frozenset(ROLES) - {ANON}
OWNER = frozenset({HH_A})
HOUSEHOLDS = frozenset({SU, HH_A, HH_B})  # with a household row (the world admin has one)

# --- Admin actions: "<app_label>.<model>:<action>[variant]" -> who may --------------------------
ADMIN_ACTIONS: dict[str, frozenset[str]] = {
    # users
    "users.user:activate": ADMINS,
    "users.user:deactivate": ADMINS,
    "users.user:deactivate[superuser]": frozenset({SU}),
    "users.user:promote_to_admin": frozenset({SU}),
    # Deleting a household asks what happens to its readings: only `delete_users` is offered.
    "users.user:delete_selected": NOBODY,
    "users.user:delete_users": ADMINS,
    "users.user:delete_users[keep readings]": ADMINS,
    "users.user:delete_users[superuser]": frozenset({SU}),
    "users.household:export_households_readings": READERS,
    "users.household:delete_selected": ADMINS,
    "users.experimentparticipation:download_experiment_csv": READERS,
    "users.experimentparticipation:delete_selected": ADMINS,
    "users.experimentstatustransition:delete_selected": ADMINS,
    "auth.group:delete_selected": ADMINS,
    # audit log: read-only for everybody
    "audit.auditevent:delete_selected": NOBODY,
    "audit.heartbeat:delete_selected": NOBODY,
    # the beat schedule
    "django_celery_beat.periodictask:enable_tasks": ADMINS,
    "django_celery_beat.periodictask:disable_tasks": ADMINS,
    "django_celery_beat.periodictask:toggle_tasks": ADMINS,
    "django_celery_beat.periodictask:run_tasks": ADMINS,
    "django_celery_beat.periodictask:delete_selected": ADMINS,
    "django_celery_beat.clockedschedule:delete_selected": ADMINS,
    "django_celery_beat.crontabschedule:delete_selected": ADMINS,
    "django_celery_beat.intervalschedule:delete_selected": ADMINS,
    "django_celery_beat.solarschedule:delete_selected": ADMINS,
    # sensors
    "sensors.sensor:reset_sensors": SENSOR_KEEPERS,
    "sensors.sensor:reset_sensors[confirmed]": SENSOR_KEEPERS,
    "sensors.sensor:reset_sensors[confirmed, delete readings]": ADMINS,
    "sensors.sensor:revoke_tokens": SENSOR_KEEPERS,
    "sensors.sensor:delete_selected": ADMINS,
    "sensors.sensortoken:revoke": SENSOR_KEEPERS,
    "sensors.sensortoken:delete_selected": ADMINS,
    "sensors.reading:delete_selected": ADMINS,
    "sensors.rejectedreading:delete_selected": ADMINS,
    "sensors.meterevent:delete_selected": ADMINS,
    # analytics
    "analytics.sequence:delete_selected": ADMINS,
    "analytics.device:delete_selected": ADMINS,
    "analytics.devicesuggestion:delete_selected": ADMINS,
    "analytics.devicepowerestimation:delete_selected": ADMINS,
    "analytics.consumptionrollup:delete_selected": NOBODY,  # the fleet page, read-only
    # exports
    "exports.exportjob:run_again": READERS,
    "exports.exportjob:delete_selected": ADMINS,
    "exports.experimentexportmark:delete_selected": NOBODY,
    # reports
    "reports.report:resend_mails": ADMINS,
    "reports.report:delete_selected": ADMINS,
    "reports.reportsettings:delete_selected": ADMINS,
    "reports.anomalynotification:delete_selected": NOBODY,
    "reports.surveyinvitation:delete_selected": ADMINS,
    "reports.staffdigestmail:delete_selected": NOBODY,  # read-only, written by the digest
}

# --- Custom admin views: URL name [variant] -> who may -------------------------------------------
ADMIN_VIEWS: dict[str, frozenset[str]] = {
    "exports_exportjob_download": READERS,
    "reports_report_mail_preview": READERS,
    "analytics_fleet_health": READERS,
    "analytics_suggestion_evaluation": READERS,
    "auth_user_password_change": ADMINS,
    "auth_user_password_change[superuser]": frozenset({SU}),
}

# --- API operations: "<METHOD> <path>" -> who may (every request names A's objects) -----------
API_OPERATIONS: dict[str, frozenset[str]] = {
    # `user`/`sensor` of A: A itself, or staff with the model's view permission
    "GET /api/v1/aggregates": READERS | OWNER,
    "GET /api/v1/csv_energy": READERS | OWNER,
    "GET /api/v1/peaks": READERS | OWNER,
    "GET /api/v1/devices": READERS | OWNER,
    "GET /api/v1/devices/estimation": READERS | OWNER,
    # the survey tool's data and the ML API: staff with the permission only
    "GET /api/v1/csv_experiment": READERS,
    "POST /api/v1/csv_experiment/mark_exported": READERS,
    "POST /api/v1/ml": READERS,
    # sensor settings (script, rotations, needs_script): the sensors' keepers only
    "PATCH /api/v1/sensors/{sensor_id}/settings": SENSOR_KEEPERS,
    # A's objects by id: only A (staff act on households only through `user=` reads)
    "GET /api/v1/devices/{device_id}": OWNER,
    "PATCH /api/v1/devices/{device_id}": OWNER,
    "DELETE /api/v1/devices/{device_id}": OWNER,
    "POST /api/v1/peaks/{peak_id}/devices": OWNER,
    "DELETE /api/v1/peaks/{peak_id}/devices/{device_id}": OWNER,
    "GET /api/v1/reports/{report_id}": OWNER,
    "GET /api/v1/reports/{report_id}/charts/{name}.png": OWNER,
    # the caller's own data
    "GET /api/v1/me": LOGGED_IN,
    "GET /api/v1/reports": LOGGED_IN,
    "GET /api/v1/reports/settings": LOGGED_IN,
    "PATCH /api/v1/reports/settings": LOGGED_IN,
    "POST /api/v1/devices": LOGGED_IN,
    "GET /api/v1/live": LOGGED_IN,
    "GET /api/v1/sensors/health": LOGGED_IN,
    # the caller's own household: 404 `no_household` for staff without one, nothing written
    "PATCH /api/v1/me": HOUSEHOLDS,
    "POST /api/v1/reports/generate": HOUSEHOLDS,
}

# Admin views of every ModelAdmin and of the site, which Django checks itself.
STANDARD_VIEW_SUFFIXES = ("_changelist", "_add", "_history", "_delete", "_change")
STANDARD_SITE_VIEWS = frozenset(
    {
        "index",
        "login",
        "logout",
        "password_change",
        "password_change_done",
        "autocomplete",
        "jsi18n",
        "view_on_site",
        "app_list",
    }
)
SNAPSHOT_APPS = (
    "users",
    "audit",
    "sensors",
    "analytics",
    "exports",
    "reports",
    "auth",
    "django_celery_beat",
)


# --- The world ------------------------------------------------------------------------------------
@dataclass
class Matrix:
    world: World
    users: dict[str, User | None]
    inactive: User
    export_job: ExportJob
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def matrix(settings: Any, tmp_path: Path) -> Matrix:
    settings.EXPORTS_ROOT = str(tmp_path)
    world = world_build()
    users: dict[str, User | None] = {
        SU: world.admin,
        ADM: StaffFactory(roles=["administrator"]),
        RES: StaffFactory(roles=["researcher"]),
        SUP: StaffFactory(roles=["support"]),
        STAFF: StaffFactory(),
        HH_A: world.a.user,
        HH_B: world.b.user,
        ANON: None,
    }
    inactive = UserFactory(is_active=False, email="dormant-matrix@example.org")
    now = datetime(2024, 7, 2, tzinfo=UTC)
    sensor = world.a.sensor
    participation = ExperimentParticipation.objects.get(user=world.a.user)
    ExperimentExportMark.objects.create(participation=participation, exported_at=now)
    AnomalyNotification.objects.create(
        sequence=Sequence.objects.create(
            sensor=sensor,
            kind="anomaly",
            start=now,
            end=now + timedelta(minutes=3),
            average_power_w=9000.0,
            average_peak_power_w=9000.0,
            energy_kwh=0.4,
        ),
        user=world.a.user,
        sensor=sensor,
    )
    ExperimentStatusTransition.objects.create(
        participation=participation,
        from_status="registered",
        to_status="approved",
        changed_at=now,
        source="survey_routine",
    )
    SurveyInvitation.objects.create(
        user=world.a.user,
        survey_number=2,
        survey_id="s2",
        link="https://survey.example.org/s2",
        created_at=now,
    )
    StaffDigestMail.objects.create(
        digest=StaffDigest.objects.create(
            day=now.date(), window_start=now - timedelta(hours=24), window_end=now
        ),
        user=users[SUP],
    )
    MeterEvent.objects.create(sensor=sensor, occurred_at=now, new_value=Decimal("12.5"))
    RejectedReading.objects.create(
        sensor=sensor, reason="value_decreased", status_message="Value lower than previous reading"
    )
    ConsumptionRollup.objects.create(
        sensor=sensor, bucket_start=now, consumption=Decimal("0.1"), readings=60
    )
    AuditEvent.objects.create(title="matrix/event", app_function="matrix")
    Heartbeat.objects.create(name="celery", last_at=now, beats=1)
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    CrontabSchedule.objects.create(minute="5")
    SolarSchedule.objects.create(
        event="sunset", latitude=Decimal("52.5"), longitude=Decimal("13.4")
    )
    ClockedSchedule.objects.create(clocked_time=now)
    PeriodicTask.objects.create(
        name="matrix heartbeat", task="audit.heartbeat", interval=interval, enabled=True
    )
    job = ExportJob.objects.create(
        requested_by=world.admin,
        status=ExportJob.Status.SUCCEEDED,
        include_readings=True,
        checksums={"manifest.json": "0" * 64},
        file_path="job",
    )
    job.households.add(world.a.user.household)
    folder = tmp_path / f"job-{job.pk}"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"matrix": true}', encoding="utf-8")
    Report.objects.filter(pk=world.a.report.pk).update(
        best_day=world.a.report.first_day,
        best_day_consumption_kwh=Decimal("0.39"),
        worst_day=world.a.report.first_day,
        worst_day_consumption_kwh=Decimal("0.39"),
    )
    spare = sensor_register(client_id="5A:5A:5A:00:00:01", user=None)
    return Matrix(
        world=world,
        users=users,
        inactive=inactive,
        export_job=job,
        extra={"spare sensor": spare},
    )


def snapshot() -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of the project's models, auth's and the beat schedule's (through tables
    included), keyed by model and pk."""
    found: dict[str, dict[Any, dict[str, Any]]] = {}
    targets: list[type[models.Model]] = [
        model
        for label in SNAPSHOT_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    for model in targets:
        key = model._meta.pk.attname  # type: ignore[union-attr]
        rows = model._default_manager.values()
        found[model._meta.label] = {row[key]: row for row in rows}
    return found


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        if old != new:
            changed = sorted(
                (set(old) ^ set(new)) | {pk for pk in old if pk in new and old[pk] != new[pk]},
                key=str,
            )
            changes.append(f"{label} {changed[:5]}")
    return changes


@dataclass
class Outcome:
    status: int
    body: str
    download: bool
    changes: list[str]


def run_cell(send: Callable[[], Any]) -> Outcome:
    """Send one request inside a savepoint that is rolled back afterwards."""
    with transaction.atomic():
        before = snapshot()
        response = send()
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content).decode(errors="replace")
        elif hasattr(response, "file_to_stream"):
            body = b"".join(response).decode(errors="replace")
        else:
            body = bytes(response.content).decode(errors="replace")
        changes = differences(before, snapshot())
        transaction.set_rollback(True)
    download = "attachment" in str(response.get("Content-Disposition", ""))
    return Outcome(response.status_code, body, download, changes)


def admin_client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def leaks(matrix: Matrix, text: str) -> list[str]:
    lowered = text.lower()
    return [marker for marker in matrix.world.a.markers if marker.lower() in lowered]


# --- Admin actions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdminAction:
    key: str
    model_admin: admin.ModelAdmin[Any]
    name: str
    post: tuple[tuple[str, str], ...] = ()
    target: str = "default"  # which row is selected
    effect: str = "changes"  # what an allowed call does: changes | download | page:<text>

    @property
    def base_key(self) -> str:
        return f"{self.model_admin.model._meta.label_lower}:{self.name}"


# Variants and effects of discovered actions (the action's own key, or a variant of it).
ACTION_DETAILS: dict[str, dict[str, Any]] = {
    "users.user:activate": {"target": "inactive"},
    # Users, participations and sensors with audit-relevant rows (export marks, readings) are
    # not deletable by anybody; the matrix deletes ones without.
    "users.user:delete_selected": {"target": "inactive"},
    "users.user:delete_users": {"target": "inactive", "effect": "page:Delete users?"},
    "users.user:delete_users[keep readings]": {
        "base": "delete_users",
        "target": "inactive",
        "post": (("confirm", "yes"), ("readings", "keep")),
    },
    "users.experimentparticipation:delete_selected": {"target": "household B"},
    "sensors.sensor:delete_selected": {"target": "spare sensor"},
    "users.user:deactivate[superuser]": {"base": "deactivate", "target": "superuser"},
    "users.user:delete_users[superuser]": {
        "base": "delete_users",
        "target": "superuser",
        "post": (("confirm", "yes"), ("readings", "keep")),
    },
    "users.experimentparticipation:download_experiment_csv": {"effect": "download"},
    "sensors.sensor:reset_sensors": {"effect": "page:Reset sensors?"},
    "sensors.sensor:reset_sensors[confirmed]": {
        "base": "reset_sensors",
        "post": (("confirm", "yes"),),
    },
    "sensors.sensor:reset_sensors[confirmed, delete readings]": {
        "base": "reset_sensors",
        "post": (("confirm", "yes"), ("delete_readings", "on")),
    },
    "django_celery_beat.periodictask:enable_tasks": {"target": "disabled task"},
}


def admin_actions() -> list[AdminAction]:
    """Every action of every registered ModelAdmin, and the variants in ACTION_DETAILS."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for _function, name, _description in model_admin._get_base_actions():
            key = f"{model._meta.label_lower}:{name}"
            keys = [key] + [
                variant
                for variant, details in ACTION_DETAILS.items()
                if variant.startswith(f"{model._meta.label_lower}:") and details.get("base") == name
            ]
            for each in keys:
                details = ACTION_DETAILS.get(each, {})
                post = details.get("post", ())
                if name == "delete_selected":
                    post = (("post", "yes"),)
                found.append(
                    AdminAction(
                        key=each,
                        model_admin=model_admin,
                        name=name,
                        post=post,
                        target=details.get("target", "default"),
                        effect=details.get("effect", "changes"),
                    )
                )
    return sorted(found, key=lambda action: action.key)


ACTIONS = admin_actions()


def selected_pk(matrix: Matrix, action: AdminAction) -> Any:
    model = action.model_admin.model
    if action.target == "inactive":
        return matrix.inactive.pk
    if action.target == "superuser":
        return matrix.world.admin.pk
    if action.target == "household B":
        return model._default_manager.get(user=matrix.world.b.user).pk
    if action.target == "spare sensor":
        return matrix.extra["spare sensor"].pk
    if action.target == "disabled task":
        task = PeriodicTask.objects.get(name="matrix heartbeat")
        PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
        return task.pk
    if model is User:
        return matrix.world.a.user.pk
    if model is Group:
        return Group.objects.get(name="support").pk
    row = model._default_manager.order_by("pk").first()
    assert row is not None, f"the matrix world has no {model._meta.label} row; add one"
    return row.pk


def offered(action: AdminAction, user: User | None) -> bool:
    if user is None or not (user.is_active and user.is_staff):
        return False
    request = RequestFactory().get("/")
    request.user = user
    return action.name in action.model_admin.get_actions(request)


def test_every_admin_action_is_in_the_matrix() -> None:
    keys = {action.key for action in ACTIONS}
    unknown = sorted(keys - set(ADMIN_ACTIONS))
    stale = sorted(set(ADMIN_ACTIONS) - keys)
    assert not unknown, f"admin actions the permission matrix does not know: {unknown}"
    assert not stale, f"listed in the matrix but not in the admin any more: {stale}"


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.key)
def test_admin_action(action: AdminAction, matrix: Matrix) -> None:
    allowed = ADMIN_ACTIONS.get(action.key)
    assert allowed is not None, f"{action.key} is not in ADMIN_ACTIONS"
    url = reverse(
        f"admin:{action.model_admin.model._meta.app_label}_"
        f"{action.model_admin.model._meta.model_name}_changelist"
    )
    problems = []
    for role in ROLES:
        user = matrix.users[role]
        client = admin_client(user)

        data = {"action": action.name, "_selected_action": [selected_pk(matrix, action)]}
        data.update(dict(action.post))

        def send() -> Any:
            return client.post(url, data)  # noqa: B023

        outcome = run_cell(send)
        is_offered = offered(action, user)
        cell = f"{action.key} as {role}"
        if outcome.status >= 500:
            problems.append(f"{cell}: answered {outcome.status}")
        elif role in allowed:
            if not is_offered:
                problems.append(f"{cell}: allowed but not offered")
            if action.effect == "download" and not outcome.download:
                problems.append(f"{cell}: allowed but no download ({outcome.status})")
            elif action.effect.startswith("page:") and action.effect[5:] not in outcome.body:
                problems.append(f"{cell}: allowed but no confirmation page ({outcome.status})")
            elif action.effect == "changes" and not outcome.changes:
                problems.append(f"{cell}: allowed but changed nothing ({outcome.status})")
        else:
            # A variant refused per object (a superuser selected) is still offered to those who
            # may run the action itself.
            if is_offered and role not in ADMIN_ACTIONS.get(action.base_key, NOBODY):
                problems.append(f"{cell}: refused but offered")
            if outcome.changes:
                problems.append(f"{cell}: refused but changed {outcome.changes}")
            if outcome.download:
                problems.append(f"{cell}: refused but downloaded a file")
            if action.effect.startswith("page:") and action.effect[5:] in outcome.body:
                problems.append(f"{cell}: refused but shown the confirmation page")
            if role in (HH_B, ANON) and leaks(matrix, outcome.body):
                problems.append(f"{cell}: refused but A's data in the answer")
    assert not problems, "\n".join(problems)


# --- Custom admin views ---------------------------------------------------------------------------
def _admin_url_names(resolver: URLResolver | None = None) -> Iterator[str]:
    patterns = admin.site.get_urls() if resolver is None else resolver.url_patterns
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _admin_url_names(pattern)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield pattern.name


def custom_admin_views() -> list[str]:
    """Admin URL names that are neither a site view nor a standard ModelAdmin view."""
    standard = set(STANDARD_SITE_VIEWS)
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}"
        standard.update(prefix + suffix for suffix in STANDARD_VIEW_SUFFIXES)
        standard.add(f"{prefix}_simple_history")  # django-simple-history's, checked by it
    return sorted(set(_admin_url_names()) - standard)


def test_every_custom_admin_view_is_in_the_matrix() -> None:
    found = set(custom_admin_views())
    listed = {key.split("[")[0] for key in ADMIN_VIEWS}
    assert found - listed == set(), f"admin views the matrix does not know: {found - listed}"
    assert listed - found == set(), f"listed but gone: {listed - found}"


def _view_request(matrix: Matrix, key: str) -> tuple[str, str, dict[str, str]]:
    """(method, url, data) of a custom view; allowed calls of POSTs change something."""
    world = matrix.world
    if key == "exports_exportjob_download":
        return "get", reverse(f"admin:{key}", args=(matrix.export_job.pk, "manifest.json")), {}
    if key == "reports_report_mail_preview":
        return "get", reverse(f"admin:{key}", args=(world.a.report.pk,)), {}
    if key.startswith("auth_user_password_change"):
        target = world.admin if key.endswith("[superuser]") else world.a.user
        url = reverse("admin:auth_user_password_change", args=(target.pk,))
        password = "matrix-New-password-93"
        return "post", url, {"password1": password, "password2": password}
    return "get", reverse(f"admin:{key}"), {}


VIEW_EFFECT = {
    "exports_exportjob_download": "download",
    "auth_user_password_change": "changes",
    "auth_user_password_change[superuser]": "changes",
}


@pytest.mark.parametrize("key", sorted(ADMIN_VIEWS))
def test_custom_admin_view(key: str, matrix: Matrix) -> None:
    allowed = ADMIN_VIEWS[key]
    problems = []
    assert Report.objects.filter(pk=matrix.world.a.report.pk, status=Report.Status.OK).exists()
    for role in ROLES:
        client = admin_client(matrix.users[role])
        method, url, data = _view_request(matrix, key)
        outcome = run_cell(lambda: getattr(client, method)(url, data))  # noqa: B023
        cell = f"{key} as {role}"
        effect = VIEW_EFFECT.get(key, "page")
        if outcome.status >= 500:
            problems.append(f"{cell}: answered {outcome.status}")
        elif role in allowed:
            if effect == "download" and not outcome.download:
                problems.append(f"{cell}: allowed but no download ({outcome.status})")
            elif effect == "changes" and not outcome.changes:
                problems.append(f"{cell}: allowed but changed nothing ({outcome.status})")
            elif effect == "page" and outcome.status != 200:
                problems.append(f"{cell}: allowed but answered {outcome.status}")
        else:
            if outcome.status == 200 or outcome.download:
                problems.append(f"{cell}: refused but answered {outcome.status}")
            if outcome.changes:
                problems.append(f"{cell}: refused but changed {outcome.changes}")
    assert not problems, "\n".join(problems)


# --- API operations -------------------------------------------------------------------------------
API = [operation for operation in OPERATIONS if operation.key not in PUBLIC]


def test_every_api_operation_is_in_the_matrix() -> None:
    keys = {operation.id for operation in API}
    unknown = sorted(keys - set(API_OPERATIONS))
    stale = sorted(set(API_OPERATIONS) - keys)
    assert not unknown, f"API operations the permission matrix does not know: {unknown}"
    assert not stale, f"listed in the matrix but not in the schema any more: {stale}"


def _api_call(operation: Operation, matrix: Matrix, jwt: str | None) -> Any:
    request = fill(operation, matrix.world, matrix.world.a)
    url = request.url
    if request.query:
        url = f"{url}?{urlencode(request.query)}"
    headers = dict(request.headers)
    if jwt is not None:
        headers["Authorization"] = f"Bearer {jwt}"
    return APIClient().generic(
        operation.method,
        url,
        json.dumps(request.body) if request.body is not None else "",
        content_type="application/json",
        headers=headers,
    )


@pytest.mark.parametrize("operation", API, ids=lambda operation: operation.id)
def test_api_operation(operation: Operation, matrix: Matrix) -> None:
    allowed = API_OPERATIONS.get(operation.id)
    assert allowed is not None, f"{operation.id} is not in API_OPERATIONS"
    ok = OWNER_STATUS.get(operation.key, range(200, 300))
    problems = []
    for role in ROLES:
        user = matrix.users[role]
        jwt = jwt_for(user) if user is not None else None
        outcome = run_cell(lambda: _api_call(operation, matrix, jwt))  # noqa: B023
        cell = f"{operation.id} as {role}"
        if outcome.status >= 500 and outcome.status not in ok:
            problems.append(f"{cell}: answered {outcome.status}")
        elif role in allowed:
            if outcome.status not in ok:
                problems.append(f"{cell}: allowed but answered {outcome.status}")
        else:
            if outcome.status not in (401, 403, 404):
                problems.append(f"{cell}: refused but answered {outcome.status}")
            if outcome.changes:
                problems.append(f"{cell}: refused but changed {outcome.changes}")
            if leaks(matrix, outcome.body):
                problems.append(f"{cell}: refused but A's data in the answer")
    assert not problems, "\n".join(problems)


def test_matrix_size(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the size of the matrix (callers x operations)."""
    operations = len(ACTIONS) + len(ADMIN_VIEWS) + len(API)
    with capsys.disabled():
        print(  # noqa: T201 - the figure the matrix is measured by
            f"\npermission matrix: {len(ROLES)} callers x {operations} operations "
            f"({len(ACTIONS)} admin actions, {len(ADMIN_VIEWS)} admin views, {len(API)} API "
            f"operations) = {len(ROLES) * operations} cells"
        )
    assert len(ROLES) * operations >= 8 * 60


def test_anonymous_user_is_offered_nothing() -> None:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    for model_admin in admin.site._registry.values():
        assert not model_admin.has_view_permission(request)
