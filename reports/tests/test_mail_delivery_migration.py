"""The migration to the outbox's field names (`MailDelivery`): anomaly notifications and survey
invitations keep their mail state under the new names, the anomaly mail's `inactive` becomes
`no_email`, and going back restores both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_NAME = ("reports", "0003_report_mails_day_cost_survey_routine")
AFTER_NAME = ("reports", "0004_mail_delivery")
NOW = datetime(2024, 7, 1, 12, tzinfo=UTC)


def targets(reports: tuple[str, str]) -> list[tuple[str, str]]:
    """Reports at `reports`, every other app at its latest migration that needs no later one of
    reports (users' takes over a model from a later reports migration)."""
    graph = MigrationExecutor(connection).loader.graph
    leaves = graph.leaf_nodes()
    (reports_leaf,) = (node for node in leaves if node[0] == "reports")
    later = {node for node in graph.forwards_plan(reports_leaf) if node[0] == "reports"} - set(
        graph.forwards_plan(reports)
    )
    nodes = [reports]
    for leaf in leaves:
        node: tuple[str, str] | None = None if leaf[0] == "reports" else leaf
        while node is not None and later & set(graph.forwards_plan(node)):
            own = [
                parent.key for parent in graph.node_map[node].parents if parent.key[0] == node[0]
            ]
            node = own[0] if own else None
        if node is not None:
            nodes.append(node)
    return nodes


def migrate(nodes: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(nodes)
    return executor.loader.project_state(nodes).apps


def mail_state(apps: Any, model: str, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return list(apps.get_model("reports", model).objects.order_by("pk").values_list(*fields))


@pytest.mark.django_db(transaction=True)
def test_mail_state_is_kept_under_the_new_names_and_back() -> None:
    old = migrate(targets(BEFORE_NAME))
    try:
        user = old.get_model("users", "User").objects.create(email="old@example.org")
        sensor = old.get_model("sensors", "Sensor").objects.create(client_id="AA:00:00:00:00:09")
        Sequence = old.get_model("analytics", "Sequence")
        notifications = old.get_model("reports", "AnomalyNotification")
        for minutes, status in ((0, "sent"), (30, "skipped"), (60, "failed")):
            sequence = Sequence.objects.create(
                sensor=sensor,
                kind="anomaly",
                start=NOW + timedelta(minutes=minutes),
                end=NOW + timedelta(minutes=minutes + 15),
                average_power_w=900.0,
                average_peak_power_w=800.0,
                energy_kwh=0.2,
            )
            notifications.objects.create(
                sequence=sequence,
                user=user,
                sensor=sensor,
                status=status,
                skip_reason="inactive" if status == "skipped" else "",
                attempts={"sent": 2, "skipped": 0, "failed": 3}[status],
                error="SMTPException: no" if status == "failed" else "",
                sent_at=NOW if status == "sent" else None,
            )
        old.get_model("reports", "SurveyInvitation").objects.create(
            user=user,
            survey_number=2,
            survey_id="s2",
            link="https://surveys.example.org/s2",
            status="failed",
            attempts=1,
            last_error="OSError: refused",
            created_at=NOW,
        )

        new = migrate(targets(AFTER_NAME))

        mail_fields = (
            "mail_status",
            "mail_skip_reason",
            "mail_attempts",
            "mail_last_error",
            "mail_sent_at",
        )
        assert mail_state(new, "AnomalyNotification", mail_fields) == [
            ("sent", "", 2, "", NOW),
            ("skipped", "no_email", 0, "", None),
            ("failed", "", 3, "SMTPException: no", None),
        ]
        assert mail_state(new, "SurveyInvitation", mail_fields) == [
            ("failed", "", 1, "OSError: refused", None)
        ]

        back = migrate(targets(BEFORE_NAME))

        assert mail_state(
            back, "AnomalyNotification", ("status", "skip_reason", "attempts", "error", "sent_at")
        ) == [
            ("sent", "", 2, "", NOW),
            ("skipped", "inactive", 0, "", None),
            ("failed", "", 3, "SMTPException: no", None),
        ]
        assert mail_state(
            back, "SurveyInvitation", ("status", "attempts", "last_error", "sent_at")
        ) == [("failed", 1, "OSError: refused", None)]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
