"""The migration that turns today's `Sensor.user` into assignment periods, and labels the
rollups and sequences already stored with their household."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The users app's latest migration too: its state (auth_generation, ...) must match the table.
USERS = ("users", "0004_role_groups")
BEFORE = [
    ("sensors", "0007_sensor_reset_revoke_permissions"),
    ("analytics", "0004_devicesuggestion_classify_permission"),
    USERS,
]
AFTER = [("sensors", "0008_sensor_assignment"), ("analytics", "0005_household_key"), USERS]


@pytest.mark.django_db(transaction=True)
def test_assigned_sensors_get_an_open_period_from_their_earliest_data() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    user = old.get_model("users", "User").objects.create(email="old@example.org")
    Sensor = old.get_model("sensors", "Sensor")
    assigned = Sensor.objects.create(client_id="AA:00:00:00:00:01", user=user)
    unassigned = Sensor.objects.create(client_id="AA:00:00:00:00:02", user=None)
    first = datetime(2024, 1, 1, tzinfo=UTC)
    Reading = old.get_model("sensors", "Reading")
    for sensor in (assigned, unassigned):
        Reading.objects.create(
            sensor=sensor, timestamp=first, value=Decimal(1), consumption=Decimal(0)
        )
        old.get_model("analytics", "ConsumptionRollup").objects.create(
            sensor=sensor, bucket_start=first, consumption=Decimal(0), readings=1
        )
        old.get_model("analytics", "Sequence").objects.create(
            sensor=sensor,
            kind="peak",
            start=first,
            end=first + timedelta(minutes=5),
            average_power_w=1.0,
            average_peak_power_w=1.0,
            energy_kwh=0.1,
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    try:
        periods = list(
            new.get_model("sensors", "SensorAssignment")
            .objects.order_by("pk")
            .values_list("sensor_id", "user_id", "household_key", "valid_from", "valid_to")
        )
        assert periods == [(assigned.pk, user.pk, user.pk, first, None)]
        for model in ("ConsumptionRollup", "Sequence"):
            keys = dict(
                new.get_model("analytics", model).objects.values_list("sensor_id", "household_key")
            )
            assert keys == {assigned.pk: user.pk, unassigned.pk: 0}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
