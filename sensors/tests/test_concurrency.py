"""Concurrent ingestion for one sensor on PostgreSQL: nothing lost, nothing twice, and the
derived consumption stays consistent (the per-sensor lock serialises the read-modify-write)."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading
from sensors.services import (
    ReadingInput,
    sensor_readings_ingest,
    sensor_register,
    sensor_token_issue,
)

pytestmark = pytest.mark.django_db(transaction=True)

T0_MS = 1_721_980_800_000


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row-level concurrency needs PostgreSQL"
)
def test_concurrent_writers_store_each_reading_once_with_consistent_consumption():
    sensor = sensor_register(client_id="AA:BB:CC:00:99:01", user=UserFactory())
    token = sensor_token_issue(client_id=sensor.client_id, need_script=False).access_token
    threads_count, per_thread = 8, 30
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(per_thread):
                step = i * threads_count + offset  # the threads interleave in time
                reading = ReadingInput(value=1000 + step * 0.01, timestamp=T0_MS + step * 15_000)
                # every reading twice, from two writers' point of view: idempotent
                for _ in range(2):
                    result = sensor_readings_ingest(token=token, readings=[reading])
                    assert result.outcomes[0].status == 200
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    rows = list(Reading.objects.filter(sensor=sensor).order_by("timestamp"))
    assert len(rows) == threads_count * per_thread
    # Consumption is always the difference to the stored neighbour before it.
    for before, after in itertools.pairwise(rows):
        assert after.consumption == after.value - before.value
    assert sum((r.consumption for r in rows), Decimal(0)) == rows[-1].value - rows[0].value
