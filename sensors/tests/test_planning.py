"""The pure ingestion rules on small hand-made series (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sensors.planning import (
    DUPLICATE_MESSAGE,
    REPLACEMENT_MESSAGE,
    Flag,
    IncomingReading,
    PendingRejection,
    PlausibilityConfig,
    Reason,
    StoredReading,
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
