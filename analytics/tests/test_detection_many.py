"""Detection of many sensors per run with the readings kept between runs: the same stored
sequences as one sensor at a time reading everything afresh, also after late arrivals, across
household changes and when the kept arrays are dropped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import override_settings

from analytics.compute.detection import state_pack, state_unpack
from analytics.models import DetectionState, Sequence
from analytics.services.assignments import sensor_reset_with_rollups
from analytics.services.detection import (
    BatchResult,
    sequences_detect_window,
    sequences_detect_window_many,
)
from analytics.services.households import households_delete
from sensors.models import Reading, Sensor
from sensors.services import sensor_reset

from .factories import SensorFactory, readings_from_power

pytestmark = pytest.mark.django_db

WS = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
REF = WS - timedelta(hours=24)
WINDOWS = [WS + timedelta(minutes=30 * n) for n in range(3)]
READINGS_PER_WINDOW = 30 * 4


def at(minute: int) -> datetime:
    return WS + timedelta(minutes=minute)


# Loads inside the reference, across the first window's end, an anomaly in the second window.
LOADS = [(at(-600), at(-590), 1800.0), (at(20), at(40), 2000.0), (at(70), at(80), 6000.0)]


def stored(sensor: Sensor) -> list[tuple[Any, ...]]:
    """The sensor's sequences without ids; its household as 'own' or 0 (outside periods)."""
    return sorted(
        (
            row.kind,
            "own" if row.household_key else 0,
            row.start,
            row.end,
            row.average_power_w,
            row.average_peak_power_w,
            row.energy_kwh,
            row.base_load_w,
        )
        for row in Sequence.objects.filter(sensor=sensor)
    )


def twins(count: int = 3, **kwargs: Any) -> list[Sensor]:
    """Sensors with the same readings (same seed and loads), each of its own household."""
    sensors = [SensorFactory() for _ in range(count)]
    for sensor in sensors:
        readings_from_power(sensor, start=REF, end=at(90), loads=LOADS, **kwargs)
    # received well before any run (a reading received just before one might be uncommitted)
    Reading.objects.filter(sensor__in=sensors).update(
        received_at=datetime.now(tz=UTC) - timedelta(hours=1)
    )
    return sensors


def one_by_one(sensor: Sensor, window: datetime) -> None:
    sequences_detect_window(
        sensor_id=sensor.pk, window_start=window, window_end=window + timedelta(minutes=30)
    )


def many(
    sensors: list[Sensor], window: datetime, *, keep: bool = True, now: datetime | None = None
) -> BatchResult:
    return sequences_detect_window_many(
        sensor_ids=[sensor.pk for sensor in sensors],
        window_start=window,
        window_end=window + timedelta(minutes=30),
        keep=keep,
        now=now,
    )


def test_state_pack_round_trip_is_exact() -> None:
    t_ns = (np.arange(5, dtype=np.int64) * 15_000_000 + 1_714_000_000_000_000) * 1000
    t_ns[3] += 7_000  # 7 µs off the grid
    t_ns[4] += 40 * 60 * 10**9  # a gap longer than 32-bit microseconds hold
    for kwh in (
        np.array([np.nan, 0.000833, 0.001, 12.345678, 0.0]),  # 64-bit units (NaN's mark)
        np.array([0.000833, 0.001, 12.345678, 0.0, 0.5]),  # 32-bit units
        np.array([0.000833, 0.001, 0.0325, 0.0, 0.0]),  # 16-bit units
        np.array([0.1 + 0.2, -0.5, np.nan, 1e-9, 3.0]),  # not whole micro-kWh: stored raw
    ):
        back_t, back_kwh = state_unpack(*state_pack(t_ns, kwh))
        assert back_t.tolist() == t_ns.tolist()
        assert np.array_equal(back_kwh, kwh, equal_nan=True)
    empty_t, empty_kwh = state_unpack(*state_pack(t_ns[:0], np.zeros(0)))
    assert empty_t.size == empty_kwh.size == 0


def test_many_sensors_store_what_one_at_a_time_stores() -> None:
    alone, batched, kept = twins()
    results = []
    for window in WINDOWS:
        one_by_one(alone, window)
        many([batched], window, keep=False)
        results.append(many([kept], window))

    assert stored(alone) == stored(batched) == stored(kept)
    kinds = [row[0] for row in stored(alone)]
    assert kinds.count("peak") >= 2
    assert "anomaly" in kinds
    # the first run read everything, the next ones only what came after the kept arrays
    assert [result.read_whole for result in results] == [1, 0, 0]
    assert results[0].readings_read == 24 * 60 * 4 + READINGS_PER_WINDOW + 1
    # kept: [window start - 24 h, window start); read: [window start, window end]
    assert results[1].readings_read == READINGS_PER_WINDOW + 1
    assert results[1].readings_kept == 24 * 60 * 4
    assert DetectionState.objects.get(sensor=kept).span_end == WINDOWS[-1] + timedelta(minutes=30)


@override_settings(ENERGYLEAF_DETECTION_COMMIT_OVERLAP_SECONDS=0)
def test_a_late_arrival_in_the_kept_span_reads_the_sensor_again() -> None:
    in_gap: Callable[[datetime], bool] = lambda moment: at(24) < moment < at(27)  # noqa: E731
    alone, kept, unchecked = twins(keep=lambda moment: not in_gap(moment))
    one_by_one(alone, WINDOWS[0])
    many([kept, unchecked], WINDOWS[0])
    assert stored(kept) == stored(unchecked) == stored(alone)
    late = [
        reading
        for sensor in (alone, kept, unchecked)
        for reading in readings_from_power(sensor, start=REF, end=at(90), loads=LOADS, keep=in_gap)
    ]
    # Without the late check the kept arrays would still miss the gap: make one twin's kept
    # arrays look checked after the late readings arrived, so the check cannot see them.
    DetectionState.objects.filter(sensor=unchecked).update(
        checked_at=max(reading.received_at for reading in late) + timedelta(microseconds=1)
    )

    one_by_one(alone, WINDOWS[1])
    now = datetime.now(tz=UTC) + timedelta(seconds=1)
    result = many([kept], WINDOWS[1], now=now)
    stale = many([unchecked], WINDOWS[1], now=now)

    assert (result.late, result.read_whole) == (1, 1)
    assert stored(kept) == stored(alone)
    assert stored(unchecked) != stored(alone)  # the check is what keeps the results equal
    assert stale.late == 0


def test_household_changes_in_the_reference_are_cut_as_one_at_a_time() -> None:
    alone, kept = twins(count=2)
    for sensor in (alone, kept):
        sensor_reset(sensor=sensor, at=at(35))  # the household's time ends inside a load
    for window in WINDOWS:
        one_by_one(alone, window)
        many([kept], window)
    assert stored(kept) == stored(alone)
    # cut at the reset: the rest of the load has too little reference outside every period
    assert [(row[0], row[1], row[3]) for row in stored(alone)] == [
        ("peak", "own", at(35) - timedelta(seconds=15))
    ]


@override_settings(ENERGYLEAF_DETECTION_FETCH_SENSORS=2)
def test_many_sensors_in_several_fetches_each_get_their_own_readings() -> None:
    sensors = [SensorFactory() for _ in range(5)]
    for n, sensor in enumerate(sensors):
        loads = [(at(5 + n), at(15), 2000.0 + 300 * n)] if n % 2 == 0 else []
        readings_from_power(sensor, start=REF, end=at(30), loads=loads, seed=n)

    result = many(sensors, WS)

    assert len(result.results) == 5
    assert [r.detected > 0 for r in result.results] == [True, False, True, False, True]
    for n, sensor in enumerate(sensors):
        peaks = Sequence.objects.filter(sensor=sensor, kind="peak")
        assert [peak.start for peak in peaks] == ([at(5 + n)] if n % 2 == 0 else [])
    assert DetectionState.objects.count() == 5


def test_a_run_right_after_the_window_keeps_readings_up_to_the_grace() -> None:
    (sensor,) = twins(count=1)
    window = WINDOWS[0]
    checked = window + timedelta(minutes=30, seconds=20)
    with override_settings(ENERGYLEAF_DETECTION_KEEP_GRACE_SECONDS=600):
        many([sensor], window, now=checked)
    state = DetectionState.objects.get(sensor=sensor)
    assert state.span_end == checked - timedelta(minutes=10)
    t_ns, _ = state_unpack(bytes(state.times), bytes(state.consumption))
    assert int(t_ns[-1]) < int(state.span_end.timestamp()) * 10**9


def test_deleting_a_household_with_its_readings_drops_the_kept_arrays() -> None:
    (sensor,) = twins(count=1)
    many([sensor], WS)
    assert DetectionState.objects.filter(sensor=sensor).exists()
    households_delete(users=[sensor.user], keep_readings=False)
    assert not DetectionState.objects.filter(sensor=sensor).exists()
    assert not Reading.objects.filter(sensor=sensor).exists()


def test_resetting_a_sensor_with_its_readings_deleted_drops_the_kept_arrays() -> None:
    kept_readings, deleted_readings = twins(count=2)
    many([kept_readings, deleted_readings], WS)
    sensor_reset_with_rollups(sensor=kept_readings)
    sensor_reset_with_rollups(sensor=deleted_readings, delete_readings=True)
    assert list(DetectionState.objects.values_list("sensor_id", flat=True)) == [kept_readings.pk]
