"""The migrations that move `ExperimentStatusTransition` from reports to users keep its rows, its
permissions and who holds them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("reports", "0004_mail_delivery"),
    ("users", "0004_role_groups"),
]
AFTER = [
    ("reports", "0006_delete_experimentstatustransition"),
    ("users", "0005_experimentstatustransition"),
]
CHANGED_AT = datetime(2024, 6, 20, 6, 15, tzinfo=UTC)


@pytest.mark.parametrize("case", ["plain", "users_content_type_already_made"])
@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_rows_permissions_and_grants(case: str) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    user = old.get_model("users", "User").objects.create(email="p@example.org")
    participation = old.get_model("users", "ExperimentParticipation").objects.create(
        user=user, status="second_survey"
    )
    transition = old.get_model("reports", "ExperimentStatusTransition").objects.create(
        participation=participation,
        from_status="first_finished",
        to_status="second_survey",
        changed_at=CHANGED_AT,
        source="survey_routine",
    )
    ContentType = old.get_model("contenttypes", "ContentType")
    Permission = old.get_model("auth", "Permission")
    reports_type = ContentType.objects.get(app_label="reports", model="experimentstatustransition")
    view = Permission.objects.get(
        content_type=reports_type, codename="view_experimentstatustransition"
    )
    researchers = old.get_model("auth", "Group").objects.get_or_create(name="researcher")[0]
    researchers.permissions.add(view)
    if case == "users_content_type_already_made":
        users_type = ContentType.objects.create(
            app_label="users", model="experimentstatustransition"
        )
        Permission.objects.create(
            content_type=users_type, codename="view_experimentstatustransition", name="Can view"
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    try:
        rows = new.get_model("users", "ExperimentStatusTransition").objects.values_list(
            "pk", "participation_id", "from_status", "to_status", "changed_at", "source"
        )
        assert list(rows) == [
            (
                transition.pk,
                participation.pk,
                "first_finished",
                "second_survey",
                CHANGED_AT,
                "survey_routine",
            )
        ]
        types = new.get_model("contenttypes", "ContentType").objects
        assert not types.filter(app_label="reports", model="experimentstatustransition").exists()
        views = new.get_model("auth", "Permission").objects.filter(
            codename="view_experimentstatustransition"
        )
        assert list(views.values_list("content_type__app_label", flat=True)) == ["users"]
        group = new.get_model("auth", "Group").objects.get(name="researcher")
        assert group.permissions.filter(pk=views.get().pk).exists()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
