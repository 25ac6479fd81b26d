"""The migration that makes the database refuse an open assignment period without a household
first closes the periods a household deleted outside `households_delete` left open."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

USERS = ("users", "0005_experimentstatustransition")
BEFORE = [("sensors", "0008_sensor_assignment"), USERS]
AFTER = [("sensors", "0009_sensor_assignment_open_has_household"), USERS]


@pytest.mark.django_db(transaction=True)
def test_open_periods_of_deleted_households_are_closed_before_the_constraint() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("users", "User")
    Sensor = old.get_model("sensors", "Sensor")
    periods_model = old.get_model("sensors", "SensorAssignment")
    start = timezone.now() - timezone.timedelta(days=3)
    gone, kept = User.objects.create(email="gone@example.org"), User.objects.create(email="k@x.org")
    for number, user in enumerate((gone, kept)):
        sensor = Sensor.objects.create(client_id=f"AA:00:00:00:01:0{number}", user=user)
        periods_model.objects.create(
            sensor=sensor, user=user, household_key=user.pk, valid_from=start
        )
    gone_pk = gone.pk
    gone.delete()  # as a shell would: the period stays open with no household

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    try:
        periods = {
            key: (user_id, valid_to)
            for key, user_id, valid_to in new.get_model(
                "sensors", "SensorAssignment"
            ).objects.values_list("household_key", "user_id", "valid_to")
        }
        assert periods[kept.pk] == (kept.pk, None)
        assert periods[gone_pk][0] is None
        closed_at = periods[gone_pk][1]
        assert closed_at is not None
        assert closed_at > start
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
