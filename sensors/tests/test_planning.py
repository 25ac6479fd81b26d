"""The pure ingestion rules on small hand-made series (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.compute.planning import (
    DUPLICATE_MESSAGE,
    REPLACEMENT_MESSAGE,
    Flag,
    IncomingReading,
    PendingRejection,
    PlausibilityConfig,
    Reason,
    StoredReading,
    _decimals,
    _plan_fast,
    plan_ingestion,
    to_decimal,
)

T0 = datetime(2024, 7, 26, 8, 0, tzinfo=UTC)
CONFIG = PlausibilityConfig()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stored(seconds: float, value: str, pk: int, consumption: str = "0", **extra) -> StoredReading:  # type: ignore[no-untyped-def]
    return StoredReading(
        pk=pk,
        timestamp=at(seconds),
        value=Decimal(value),
        consumption=Decimal(consumption),
        **extra,
    )


def reading(index: int, seconds: float | None, value: float, **extra) -> IncomingReading:  # type: ignore[no-untyped-def]
    return IncomingReading(
        index=index, timestamp=None if seconds is None else at(seconds), value=value, **extra
    )


def plan(stored_rows, incoming, *, increments=False, pending=(), config=CONFIG):  # type: ignore[no-untyped-def]
    return plan_ingestion(
        stored=stored_rows,
        incoming=incoming,
        increments=increments,
        config=config,
        load_pending=lambda after: [p for p in pending if p.timestamp > after],
    )


def test_first_reading_is_stored_with_zero_consumption():
    result = plan([], [reading(0, 0, 1000.25)])
    assert result.outcomes[0].status == 200
    (row,) = result.inserts
    assert (row.value, row.consumption, row.flags) == (Decimal("1000.250000"), Decimal(0), 0)


def test_consumption_is_the_difference_to_the_previous_reading():
    result = plan([stored(0, "1000", 1)], [reading(0, 15, 1000.05, value_current=230.5)])
    (row,) = result.inserts
    assert row.consumption == Decimal("0.050000")
    assert row.value_current == Decimal("230.500000")


def test_plausibility_uses_the_readings_own_time():
    # 0.6 kWh per minute: 1.2 kWh after 2 minutes is fine, after 1 minute it is too high.
    ok = plan([stored(0, "1000", 1)], [reading(0, 120, 1001.2)])
    assert ok.outcomes[0].status == 200
    refused = plan([stored(0, "1000", 1)], [reading(0, 60, 1001.2)])
    assert refused.outcomes[0].message == "Value too high"
    assert refused.rejections[0].reason == Reason.VALUE_TOO_HIGH
    assert refused.inserts == []


def test_duplicate_timestamp_is_success_and_not_stored():
    result = plan([stored(0, "1000", 1)], [reading(0, 0, 1000.0)])
    assert result.outcomes[0].status == 200
    assert result.outcomes[0].message == DUPLICATE_MESSAGE
    assert result.inserts == []
    assert result.rejections == []


def test_duplicate_with_another_value_is_logged_as_conflict():
    result = plan([stored(0, "1000", 1)], [reading(0, 0, 999.0)])
    assert result.outcomes[0].message == DUPLICATE_MESSAGE
    assert [r.reason for r in result.rejections] == [Reason.DUPLICATE_CONFLICT]


def test_duplicates_inside_one_batch_are_stored_once():
    result = plan([], [reading(0, 0, 10.0), reading(1, 0, 10.0), reading(2, 15, 10.01)])
    assert [r.timestamp for r in result.inserts] == [at(0), at(15)]
    assert result.outcomes[1].message == DUPLICATE_MESSAGE


@pytest.mark.parametrize(
    ("case", "value", "reason", "message"),
    [
        ("zero", 0.0, Reason.VALUE_NOT_POSITIVE, "Value is equal to or less than zero"),
        ("negative", -5.0, Reason.VALUE_NOT_POSITIVE, "Value is equal to or less than zero"),
        ("nan", float("nan"), Reason.VALUE_NOT_FINITE, "Invalid data"),
        ("infinity", float("inf"), Reason.VALUE_NOT_FINITE, "Invalid data"),
        ("beyond numeric(30,6)", 1e30, Reason.VALUE_TOO_HIGH, "Value too high"),
    ],
)
def test_invalid_values_are_refused_with_reason(case, value, reason, message):
    result = plan([stored(0, "1000", 1)], [reading(0, 15, value)])
    assert result.outcomes[0].status == 400
    assert result.outcomes[0].message == message
    assert result.rejections[0].reason == reason
    assert result.inserts == []


def test_timestamp_out_of_range_is_refused():
    result = plan([], [reading(0, None, 5.0)])
    assert result.outcomes[0].message == "Timestamp out of range"
    assert result.rejections[0].timestamp is None


def test_single_low_glitch_neither_invents_consumption_nor_blocks():
    rows = [stored(0, "1000", 1)]
    glitch = plan(rows, [reading(0, 15, 3.5)])
    assert glitch.outcomes[0].message == "Value lower than previous reading"
    after = plan(rows, [reading(0, 30, 1000.02)])
    assert after.outcomes[0].status == 200
    assert after.inserts[0].consumption == Decimal("0.020000")


def test_single_high_glitch_is_refused_and_next_reading_accepted():
    rows = [stored(0, "1000", 1)]
    assert plan(rows, [reading(0, 15, 99999.0)]).outcomes[0].message == "Value too high"
    assert plan(rows, [reading(0, 30, 1000.01)]).outcomes[0].status == 200


def test_meter_replacement_with_lower_register_after_three_consistent_readings():
    rows = [stored(0, "5000", 1)]
    # Two refusals from earlier requests are pending in the rejected log.
    pending = [
        PendingRejection(11, at(15), Reason.VALUE_DECREASED, Decimal("12.0"), None, None),
        PendingRejection(12, at(30), Reason.VALUE_DECREASED, Decimal("12.01"), None, None),
    ]
    result = plan(rows, [reading(0, 45, 12.03)], pending=pending)
    assert result.outcomes[0].status == 200
    assert result.outcomes[0].message == REPLACEMENT_MESSAGE
    assert [(r.value, r.consumption) for r in result.inserts] == [
        (Decimal("12.0"), Decimal(0)),
        (Decimal("12.01"), Decimal("0.01")),
        (Decimal("12.030000"), Decimal("0.020000")),
    ]
    assert result.inserts[0].flags & Flag.METER_REPLACED
    assert result.resolved_pending == [11, 12]
    (event,) = result.meter_replacements
    assert (event.previous_value, event.new_value, event.confirming_readings) == (
        Decimal("5000"),
        Decimal("12.0"),
        3,
    )
    assert result.rejections == []


def test_meter_replacement_inside_one_batch():
    rows = [stored(0, "5000", 1)]
    batch = [reading(i, 15 * (i + 1), 20.0 + i * 0.01) for i in range(5)]
    result = plan(rows, batch)
    assert [o.status for o in result.outcomes.values()] == [200] * 5
    assert len(result.inserts) == 5
    assert result.rejections == []
    assert len(result.meter_replacements) == 1


def test_meter_replacement_with_higher_register():
    rows = [stored(0, "100", 1)]
    batch = [reading(i, 15 * (i + 1), 80000.0 + i * 0.01) for i in range(3)]
    result = plan(rows, batch)
    assert len(result.meter_replacements) == 1
    assert result.inserts[0].value == Decimal("80000.0")


def test_repeated_identical_low_values_are_not_a_new_meter():
    rows = [stored(0, "5000", 1)]
    batch = [reading(i, 15 * (i + 1), 0.5) for i in range(4)]
    result = plan(rows, batch)
    assert result.inserts == []
    assert result.meter_replacements == []
    assert {o.status for o in result.outcomes.values()} == {400}


def test_erratic_low_values_are_not_a_new_meter():
    rows = [stored(0, "5000", 1)]
    batch = [reading(0, 15, 10.0), reading(1, 30, 4000.0), reading(2, 45, 10.02)]
    result = plan(rows, batch)
    assert result.meter_replacements == []


def test_late_reading_fills_the_gap_and_updates_the_next_consumption():
    rows = [stored(0, "1000", 1), stored(60, "1000.4", 2, consumption="0.4")]
    result = plan(rows, [reading(0, 30, 1000.1)])
    (row,) = result.inserts
    assert row.consumption == Decimal("0.100000")
    assert row.flags & Flag.BACKFILLED
    (update,) = result.updates
    assert (update.pk, update.consumption) == (2, Decimal("0.300000"))


def test_late_reading_above_the_next_one_is_refused():
    rows = [stored(0, "1000", 1), stored(120, "1000.4", 2, consumption="0.4")]
    result = plan(rows, [reading(0, 90, 1000.5)])  # a plausible rise, but above the later one
    assert result.outcomes[0].message == "Value too high"
    assert result.rejections[0].reason == Reason.VALUE_ABOVE_LATER
    assert result.updates == []


def test_backfilled_batch_in_reverse_order_gets_consistent_consumption():
    rows = [stored(100, "1001", 9)]
    batch = [reading(i, 60 - 15 * i, 1000.0 + (4 - i) * 0.1) for i in range(5)]  # newest first
    result = plan(rows, batch)
    assert [r.value for r in result.inserts] == [
        Decimal("1000.000000"),
        Decimal("1000.100000"),
        Decimal("1000.200000"),
        Decimal("1000.300000"),
        Decimal("1000.400000"),
    ]
    assert [r.consumption for r in result.inserts] == [Decimal(0)] + [Decimal("0.100000")] * 4
    (update,) = result.updates
    assert update.consumption == Decimal("0.600000")


@pytest.mark.parametrize(
    ("case", "value_current", "expected", "flagged"),
    [
        ("in band", 1500.0, Decimal("1500.000000"), False),
        ("zero is a value", 0.0, Decimal(0), False),
        ("export", -3000.0, Decimal("-3000.000000"), False),
        ("too high", 45000.0, Decimal("200.000000"), True),
        ("too low", -25000.0, Decimal("200.000000"), True),
        ("nan", float("nan"), Decimal("200.000000"), True),
    ],
)
def test_power_filter(case, value_current, expected, flagged):
    rows = [stored(0, "1000", 1, value_current=Decimal("200"))]
    (row,) = plan(rows, [reading(0, 15, 1000.01, value_current=value_current)]).inserts
    assert row.value_current == expected
    assert bool(row.flags & Flag.VALUE_CURRENT_REPLACED) is flagged


@pytest.mark.parametrize(
    ("case", "value_out", "expected", "inserted", "flagged"),
    [
        ("rises", 50.5, Decimal("50.500000"), Decimal("0.500000"), False),
        ("zero rise", 50.0, Decimal("50.000000"), Decimal(0), False),
        ("goes back", 49.0, Decimal("50"), Decimal(0), True),
        ("jumps", 60.0, Decimal("50"), Decimal(0), True),
    ],
)
def test_feed_in_filter(case, value_out, expected, inserted, flagged):
    rows = [stored(0, "1000", 1, value_out=Decimal("50"))]
    (row,) = plan(rows, [reading(0, 60, 1000.01, value_out=value_out)]).inserts
    assert (row.value_out, row.inserted) == (expected, inserted)
    assert bool(row.flags & Flag.VALUE_OUT_REPLACED) is flagged


def test_increments_are_summed_and_zero_is_allowed():
    rows = [stored(0, "2.5", 1, consumption="0.01")]
    result = plan(rows, [reading(0, 15, 0.02), reading(1, 30, 0.0)], increments=True)
    assert [(r.value, r.consumption) for r in result.inserts] == [
        (Decimal("2.520000"), Decimal("0.020000")),
        (Decimal("2.520000"), Decimal(0)),
    ]


def test_first_increment_counts_as_consumption():
    (row,) = plan([], [reading(0, 0, 0.015)], increments=True).inserts
    assert (row.value, row.consumption) == (Decimal("0.015000"), Decimal("0.015000"))


def test_late_increment_is_refused():
    rows = [stored(0, "1", 1), stored(60, "1.1", 2)]
    result = plan(rows, [reading(0, 30, 0.05)], increments=True)
    assert result.outcomes[0].message == "Reading older than the latest reading"


def test_server_time_is_flagged():
    (row,) = plan([], [IncomingReading(0, at(0), 5.0, server_time=True)]).inserts
    assert row.flags == Flag.SERVER_TIME


def test_storage_precision_rounds_half_up_to_six_decimals():
    assert to_decimal(12345.6787109375) == Decimal("12345.678711")
    assert to_decimal(0.0000005) == Decimal("0.000001")
    assert to_decimal(float("nan")) is None


# --- the vectorised fast path gives the general path's plan -------------------------------------


def _both(stored_rows, incoming, *, increments=False, config=CONFIG):  # type: ignore[no-untyped-def]
    # The fast path itself, whatever the batch size (plan_ingestion only tries it from
    # FAST_PATH_MIN_READINGS readings on).
    quick = None if increments else _plan_fast(stored_rows, incoming, config)
    fast = quick or plan_ingestion(
        stored=stored_rows, incoming=incoming, increments=increments, config=config
    )
    general = plan_ingestion(
        stored=stored_rows, incoming=incoming, increments=increments, config=config, fast=False
    )
    return fast, general


def _texts(result):  # type: ignore[no-untyped-def]
    """The plan's numbers as text: equal Decimals must also have the same digits."""
    return [
        tuple(str(x) for x in (r.value, r.consumption, r.value_out, r.inserted, r.value_current))
        for r in result.inserts
    ]


def assert_same_plan(stored_rows, incoming, **options):  # type: ignore[no-untyped-def]
    fast, general = _both(stored_rows, incoming, **options)
    assert fast == general
    assert _texts(fast) == _texts(general)
    assert list(fast.outcomes) == list(general.outcomes)


def _valid_batch(count: int = 20, *, first: float = 15, **extra) -> list[IncomingReading]:  # type: ignore[no-untyped-def]
    return [
        IncomingReading(
            index=i, timestamp=at(first + 15 * i), value=1000.0 + 0.01 * (i + 1), **extra
        )
        for i in range(count)
    ]


STORED = [stored(0, "1000", 1, value_current=Decimal("200"), value_out=Decimal("50"))]


def test_fast_path_handles_a_plain_appended_batch():
    batch = _valid_batch(value_current=230.5)
    assert _plan_fast(STORED, batch, CONFIG) is not None
    assert _plan_fast([], batch, CONFIG) is not None
    assert_same_plan(STORED, batch)
    assert_same_plan([], batch)


def test_fast_path_handles_feed_in_rate_limit_exactly():
    # 2 per minute: after 15 s the feed-in may rise by exactly 0.5.
    batch = [
        IncomingReading(0, at(15), 1000.01, value_out=50.5),
        IncomingReading(1, at(30), 1000.02, value_out=None),
        IncomingReading(2, at(45), 1000.03, value_out=51.0),
        IncomingReading(3, at(60), 1000.04, value_out=51.5),
    ]
    assert _plan_fast(STORED, batch, CONFIG) is not None
    assert_same_plan(STORED, batch)


def _replace(batch, position, **changes):  # type: ignore[no-untyped-def]
    changed = list(batch)
    changed[position] = replace(changed[position], **changes)
    return changed


FALLBACKS = {
    "timestamp out of range": lambda b: _replace(b, 3, timestamp=None),
    "not sorted": lambda b: [b[1], b[0], *b[2:]],
    "same timestamp twice": lambda b: _replace(b, 4, timestamp=b[3].timestamp),
    "nan": lambda b: _replace(b, 2, value=float("nan")),
    "infinite": lambda b: _replace(b, 2, value=float("inf")),
    "zero": lambda b: _replace(b, 0, value=0.0),
    "rounds to zero": lambda b: _replace(b, 0, value=0.0000004),
    "negative": lambda b: _replace(b, 5, value=-1.0),
    "beyond storage": lambda b: _replace(b, 5, value=1e30),
    "decreases": lambda b: _replace(b, 5, value=999.0),
    "rises too fast": lambda b: _replace(b, 5, value=1050.0),
    "power out of band": lambda b: _replace(b, 5, value_current=45000.0),
    "power nan": lambda b: _replace(b, 5, value_current=float("nan")),
    "feed-in negative": lambda b: _replace(b, 5, value_out=-1.0),
    "feed-in decreases": lambda b: _replace(b, 0, value_out=49.0),
    "feed-in too fast": lambda b: _replace(b, 0, value_out=60.0),
    "feed-in nan": lambda b: _replace(b, 0, value_out=float("nan")),
}


@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_fast_path_falls_back(case):
    batch = FALLBACKS[case](_valid_batch())
    assert _plan_fast(STORED, batch, CONFIG) is None
    assert_same_plan(STORED, batch)


@pytest.mark.parametrize(
    ("case", "rows"),
    [
        ("stored reading after the earliest incoming", [*STORED, stored(40, "1000.2", 2)]),
        ("stored reading at an incoming time", [*STORED, stored(30, "1000.02", 2)]),
        ("stored value finer than storage", [stored(0, "1000.0000001", 1)]),
    ],
)
def test_fast_path_falls_back_for_stored_rows(case, rows):
    batch = _valid_batch()
    assert _plan_fast(rows, batch, CONFIG) is None
    assert_same_plan(rows, batch)


def test_fast_path_leaves_naive_times_to_the_general_path():
    naive = [replace(r, timestamp=r.timestamp.replace(tzinfo=None)) for r in _valid_batch()]
    rows = [replace(STORED[0], timestamp=T0.replace(tzinfo=None))]
    assert _plan_fast(rows, naive, CONFIG) is None
    assert_same_plan(rows, naive)


def test_increments_take_the_general_path():
    batch = _valid_batch()
    assert_same_plan(STORED, batch, increments=True)


RATES = st.sampled_from([Decimal("0.6"), Decimal("0.2"), Decimal("0.1"), Decimal("0.07")])
STEPS_US = st.one_of(
    st.sampled_from([15_000_000, 1_000_000, 60_000_000, 100_000, 1]),
    st.integers(min_value=1, max_value=86_400_000_000),
)
FRACTIONS = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(min_value=0.0, max_value=1.02))
POWER = st.one_of(
    st.none(),
    st.sampled_from([-20000.0, 40000.0, 40000.0000004, 40000.0000005, -20000.0000005, 0.0]),
    st.floats(min_value=-20000, max_value=40000),
)


@st.composite
def batches(draw):  # type: ignore[no-untyped-def]
    """(stored rows, incoming, config): mostly batches the fast path takes, some at its edges."""
    config = PlausibilityConfig(max_rate_per_minute=draw(RATES))
    start = draw(st.floats(min_value=0.0000005, max_value=1e6))
    rows = []
    previous_out: float | None = None
    if draw(st.booleans()):
        start_out = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=1e5)))
        rows = [
            StoredReading(
                pk=1,
                timestamp=T0,
                value=to_decimal(start) or Decimal(1),
                consumption=Decimal(0),
                value_out=None if start_out is None else to_decimal(start_out),
                value_current=to_decimal(draw(st.floats(min_value=-100, max_value=100))),
            )
        ]
        previous_out = start_out
    moment = T0
    value = start
    incoming = []
    for index in range(draw(st.integers(min_value=1, max_value=25))):
        step = draw(STEPS_US)
        moment += timedelta(microseconds=step)
        minutes = step / 60_000_000
        if rows or index:
            value += float(config.max_rate_per_minute) * minutes * draw(FRACTIONS)
        out = None
        if draw(st.booleans()):
            base = previous_out if previous_out is not None else draw(st.floats(0, 1e5))
            out = base + float(config.max_out_rate_per_minute) * minutes * draw(FRACTIONS)
        previous_out = out
        incoming.append(
            IncomingReading(
                index=index,
                timestamp=moment,
                value=value,
                value_current=draw(POWER),
                value_out=out,
                server_time=draw(st.booleans()),
            )
        )
    return rows, incoming, config


@settings(max_examples=300, deadline=None)
@given(batches())
def test_fast_path_plans_like_the_general_path(case):
    rows, incoming, config = case
    assert_same_plan(rows, incoming, config=config)


TIES = st.integers(min_value=-(10**13), max_value=10**13).map(lambda n: (n + 0.5) / 1e6)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-1e12, max_value=1e12, exclude_min=True, exclude_max=True),
            TIES,
            st.sampled_from([0.0, -0.0, 0.0000005, -0.0000005, 1e7, 9999999.9999995]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_vectorised_rounding_is_to_decimal(raw):
    converted = _decimals(np.array(raw, dtype=np.float64))
    assert converted is not None
    micros, numbers = converted
    expected = [to_decimal(x) for x in raw]
    assert [str(n) for n in numbers] == [str(e) for e in expected]
    assert micros.tolist() == [int(e.scaleb(6)) for e in expected if e is not None]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e12, -2e15])
def test_vectorised_rounding_leaves_the_rest_to_the_general_path(bad):
    assert _decimals(np.array([1.0, bad])) is None
