"""Fleet health: shares of expected readings, gaps, rejections; admin page with a query budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.models import ConsumptionRollup
from analytics.selectors.fleet import fleet_health
from energyleaf.users.tests.factories import UserFactory
from sensors.models import RejectedReading, Sensor
from sensors.tests import helpers
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 7, 8, 12, 7, tzinfo=UTC)
WINDOW_END = datetime(2024, 7, 8, 12, 0, tzinfo=UTC)


def rollups(sensor: Sensor, buckets: int, *, readings: int = 60, every: int = 1) -> None:
    """`buckets` rollups ending at WINDOW_END, keeping every `every`-th."""
    ConsumptionRollup.objects.bulk_create(
        ConsumptionRollup(
            sensor=sensor,
            bucket_start=WINDOW_END - timedelta(minutes=15 * (k + 1)),
            consumption=Decimal("0.1"),
            readings=readings,
        )
        for k in range(buckets)
        if k % every == 0
    )


def reading(sensor: Sensor, at: datetime) -> None:
    helpers.reading(sensor, at, "1", "0")


def test_fleet_health_per_sensor() -> None:
    complete = SensorFactory(client_id="AA:00:00:00:00:01")
    halved = SensorFactory(client_id="AA:00:00:00:00:02", user=None)
    silent = SensorFactory(client_id="AA:00:00:00:00:03")
    rollups(complete, 7 * 96)
    rollups(halved, 96, every=2)
    reading(complete, NOW - timedelta(seconds=10))
    reading(halved, NOW - timedelta(hours=3))
    RejectedReading.objects.create(
        sensor=halved, measured_at=NOW, reason="value_decreased", status_message="x"
    )
    RejectedReading.objects.filter(sensor=halved).update(received_at=NOW - timedelta(hours=1))
    RejectedReading.objects.create(
        sensor=silent, measured_at=NOW, reason="value_decreased", status_message="x"
    )
    RejectedReading.objects.filter(sensor=silent).update(received_at=NOW - timedelta(days=2))

    health = {row.client_id: row for row in fleet_health(now=NOW)}

    first = health["AA:00:00:00:00:01"]
    assert (first.share_24h, first.share_7d, first.missing_buckets_24h) == (1.0, 1.0, 0)
    assert first.open_gap_since is None
    assert first.household == complete.user.email
    second = health["AA:00:00:00:00:02"]
    assert (second.share_24h, second.share_7d, second.missing_buckets_24h) == (0.5, 0.5 / 7, 48)
    assert second.open_gap_since == NOW - timedelta(hours=3)
    assert second.rejected_24h == 1
    assert second.household is None
    third = health["AA:00:00:00:00:03"]
    assert (third.last_seen, third.share_24h, third.missing_buckets_24h) == (None, 0.0, 96)
    assert third.rejected_24h == 0


def test_fleet_queries_do_not_grow_with_sensors() -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            fleet_health(now=NOW)
        return len(captured)

    rollups(SensorFactory(), 10)
    few = queries()
    for _ in range(5):
        sensor = SensorFactory()
        rollups(sensor, 10)
        reading(sensor, NOW - timedelta(minutes=1))
    assert queries() == few == 3


def test_admin_page_renders_from_the_index_with_a_capped_query_count(
    client: Client, django_assert_max_num_queries: object
) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    for _ in range(4):
        sensor = SensorFactory()
        rollups(sensor, 8)
        reading(sensor, timezone.now() - timedelta(minutes=1))

    index = client.get(reverse("admin:index"))
    changelist = reverse("admin:analytics_consumptionrollup_changelist")
    assert changelist in index.content.decode()
    redirect = client.get(changelist)
    assert redirect.status_code == 302
    assert redirect["Location"] == reverse("admin:analytics_fleet_health")

    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = client.get(reverse("admin:analytics_fleet_health"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Fleet health" in page
    for sensor in Sensor.objects.all():
        assert sensor.client_id in page


def test_admin_page_needs_staff(client: Client) -> None:
    client.force_login(UserFactory())
    response = client.get(reverse("admin:analytics_fleet_health"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]
