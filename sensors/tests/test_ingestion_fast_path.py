"""The ingestion service's fast paths: vectorised timestamps, COPY text, a large batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from energyleaf.users.tests.factories import UserFactory
from sensors.compute import planning
from sensors.models import Reading
from sensors.services import (
    ReadingInput,
    sensor_readings_ingest,
    sensor_register,
    sensor_token_issue,
)
from sensors.services.ingestion import (
    COPY_THRESHOLD,
    _copy_text,
    _incoming,
    _integer_timestamps,
    timestamp_from_client,
)

NOW = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
T0_MS = 1_721_980_800_000

EDGES = [
    1,
    0,
    -5,
    946_684_799,  # 1999-12-31T23:59:59 in s: too early
    946_684_800,  # 2000-01-01 in s
    10**11 - 1,
    10**11,
    T0_MS,
    10**14 - 1,
    10**14,
    T0_MS * 1000,
    10**17 - 1,
    10**17,
    T0_MS * 1_000_000,
    T0_MS * 1_000_000 + 999,
    2**63 - 1,
]


def _one_by_one(values, now):  # type: ignore[no-untyped-def]
    return [timestamp_from_client(value, now=now)[0] for value in values]


def test_integer_timestamps_match_one_by_one_at_the_edges(settings):  # type: ignore[no-untyped-def]
    settings.ENERGYLEAF_READING_MAX_FUTURE_SECONDS = 300
    future = int((NOW - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) + 300
    values = [*EDGES, future, future + 1, future * 1000, future * 1000 + 1]
    assert _integer_timestamps(values, NOW) == _one_by_one(values, NOW)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=-(10**3), max_value=2**63 - 1),
            st.integers(min_value=T0_MS - 10**12, max_value=T0_MS + 10**12),
            st.sampled_from(EDGES),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_integer_timestamps_match_one_by_one(values):  # type: ignore[no-untyped-def]
    assert _integer_timestamps(values, NOW) == _one_by_one(values, NOW)


@pytest.mark.parametrize(
    "values",
    [[], [T0_MS, None], [T0_MS, "2024-07-26T08:00:00Z"], [T0_MS, True], [T0_MS, 2**64 - 1]],
)
def test_other_timestamps_are_converted_one_by_one(values):  # type: ignore[no-untyped-def]
    assert _integer_timestamps(values, NOW) is None
    readings = [ReadingInput(value=1.0, timestamp=value) for value in values]
    incoming = _incoming(readings, NOW)
    assert [(r.timestamp, r.server_time) for r in incoming] == [
        timestamp_from_client(value, now=NOW) for value in values
    ]


def test_incoming_with_integer_timestamps_matches_one_by_one():
    readings = [
        ReadingInput(value=1.5, value_current=2.0, value_out=None, timestamp=T0_MS),
        ReadingInput(value=1.6, value_current=None, value_out=3.0, timestamp=5),
    ]
    assert _incoming(readings, NOW) == [
        planning.IncomingReading(0, NOW, 1.5, 2.0, None, False),
        planning.IncomingReading(1, None, 1.6, None, 3.0, False),
    ]


def test_copy_text_rows():
    rows = [
        planning.StoredReading(
            pk=None,
            timestamp=NOW,
            value=Decimal("1000.250000"),
            consumption=Decimal(0),
            value_current=Decimal("-3.500000"),
            flags=8,
        ),
        planning.StoredReading(
            pk=None,
            timestamp=NOW + timedelta(microseconds=15),
            value=Decimal("1000.260000"),
            consumption=Decimal("0.010000"),
            value_out=Decimal("5.000000"),
            inserted=Decimal("0.500000"),
        ),
    ]
    assert _copy_text(7, rows, NOW).splitlines() == [
        "7\t2024-07-26T08:00:00+00:00\t1000.250000\t0\t\\N\t\\N\t-3.500000\t8"
        "\t2024-07-26T08:00:00+00:00",
        "7\t2024-07-26T08:00:00.000015+00:00\t1000.260000\t0.010000\t5.000000\t0.500000\t\\N\t0"
        "\t2024-07-26T08:00:00+00:00",
    ]


@pytest.mark.django_db
def test_large_batch_is_stored_exactly_as_planned():
    sensor = sensor_register(client_id="AA:BB:CC:00:77:01", user=UserFactory())
    token = sensor_token_issue(client_id=sensor.client_id, need_script=False).access_token
    size = COPY_THRESHOLD + 50  # COPY on PostgreSQL
    now = datetime.fromtimestamp(T0_MS / 1000 + size * 15 + 60, tz=UTC)
    readings = [
        ReadingInput(
            value=1000.0 + k * 0.002,
            value_current=float(480 + k % 40),
            value_out=None if k % 3 else 10.0 + k * 0.001,
            timestamp=T0_MS + k * 15_000,
        )
        for k in range(size)
    ]
    result = sensor_readings_ingest(token=token, readings=readings, now=now)
    assert (result.accepted, result.duplicates, result.rejected) == (size, 0, 0)
    assert {o.status for o in result.outcomes} == {200}
    expected = planning.plan_ingestion(
        stored=[],
        incoming=_incoming(readings, now),
        increments=False,
        config=planning.PlausibilityConfig(),
        fast=False,
    ).inserts
    rows = list(Reading.objects.filter(sensor_id=sensor.pk).order_by("timestamp"))
    assert [
        (r.timestamp, r.value, r.consumption, r.value_out, r.inserted, r.value_current, r.flags)
        for r in rows
    ] == [
        (e.timestamp, e.value, e.consumption, e.value_out, e.inserted, e.value_current, e.flags)
        for e in expected
    ]
    assert all(r.received_at == now for r in rows)

    again = sensor_readings_ingest(token=token, readings=readings, now=now)
    assert (again.accepted, again.duplicates, again.rejected) == (0, size, 0)
