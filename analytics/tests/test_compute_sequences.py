"""Peak and anomaly detection on small hand-made series of 15-s readings (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.compute.sequences import (
    DEFAULT_CONFIG,
    DETECTORS,
    DetectedSequence,
    DetectionConfig,
    DetectionResult,
    SequenceSummary,
    detect,
    should_merge,
)

WS = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
MIN = 60.0
HOUR = 3600.0


def offsets(step_s: float = 15.0, reference_s: float = 24 * HOUR) -> np.ndarray:
    """Reading instants in s relative to the window start, reference start to window end."""
    return np.arange(-reference_s, WINDOW.total_seconds() + step_s / 2, step_s)


def base(
    offs: np.ndarray, watts: float = 200.0, noise_w: float = 20.0, seed: int = 0
) -> np.ndarray:
    """Power (W) of each interval between consecutive readings: a noisy base load."""
    rng = np.random.default_rng(seed)
    return watts + rng.normal(0.0, noise_w, offs.size - 1)


def load(
    power: np.ndarray, offs: np.ndarray, start_s: float, end_s: float, watts: float
) -> np.ndarray:
    """`power` plus `watts` in the intervals lying within [start_s, end_s] (s from the window)."""
    inside = (offs[:-1] >= start_s) & (offs[1:] <= end_s)
    return power + np.where(inside, watts, 0.0)


def readings(
    offs: np.ndarray, power: np.ndarray, ws: datetime = WS
) -> tuple[np.ndarray, np.ndarray]:
    """datetime64[ns] instants and each reading's consumption (kWh) since the previous one."""
    ns = round(ws.timestamp()) * 1_000_000_000 + np.rint(offs * 1e9).astype(np.int64)
    consumption = np.concatenate(([0.0], power * np.diff(offs) / 3600.0 / 1000.0))
    return ns.astype("datetime64[ns]"), consumption


def run(
    offs: np.ndarray,
    power: np.ndarray,
    kind: str = "peak",
    config: DetectionConfig = DEFAULT_CONFIG,
    ws: datetime = WS,
    previous: SequenceSummary | None = None,
) -> DetectionResult:
    timestamps, consumption = readings(offs, power, ws)
    return detect(
        kind,
        timestamps,
        consumption,
        window_start=ws,
        window_end=ws + WINDOW,
        config=config,
        previous=previous,
    )


def at(seconds: float, ws: datetime = WS) -> datetime:
    return ws + timedelta(seconds=seconds)


def spans(result: DetectionResult, ws: datetime = WS) -> list[tuple[float, float]]:
    """(start, end) of each sequence in s relative to the window start."""
    return [
        ((s.start - ws).total_seconds(), (s.end - ws).total_seconds()) for s in result.sequences
    ]


# --- finding a sequence -------------------------------------------------------------------------


def test_kettle_is_found_with_its_bounds_and_power_above_base_load() -> None:
    offs = offsets()
    result = run(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))

    assert result.status == "ok"
    assert result.median_w == pytest.approx(200.0, abs=5.0)
    assert result.base_load_w == pytest.approx(200.0, abs=5.0)
    assert result.threshold_w == pytest.approx(result.median_w + 150.0)  # the floor decides
    assert spans(result) == [(5 * MIN, 8 * MIN)]
    (kettle,) = result.sequences
    assert kettle.kind == "peak"
    assert kettle.average_peak_power_w == pytest.approx(2000.0, abs=20.0)
    assert kettle.average_power_w == pytest.approx(2200.0, abs=20.0)
    assert kettle.energy_kwh == pytest.approx(2.2 * 3 / 60, rel=0.01)


def test_a_one_minute_spike_is_too_short() -> None:
    offs = offsets()
    assert run(offs, load(base(offs), offs, 5 * MIN, 6 * MIN, 3000.0)).sequences == ()


def test_exactly_two_minutes_is_long_enough() -> None:
    offs = offsets()
    assert spans(run(offs, load(base(offs), offs, 5 * MIN, 7 * MIN, 2000.0))) == [(300.0, 420.0)]


def test_low_consumption_never_counts() -> None:
    offs = offsets()
    dip = (offs[:-1] >= 8 * MIN) & (offs[1:] <= 20 * MIN)
    only_dip = np.where(dip, 0.0, base(offs))
    kettle_then_dip = np.where(dip, 0.0, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))

    assert run(offs, only_dip).sequences == ()
    assert spans(run(offs, kettle_then_dip)) == [(5 * MIN, 8 * MIN)]


def test_brief_dips_inside_a_run_do_not_end_it() -> None:
    offs = offsets()
    power = load(base(offs), offs, 5 * MIN, 10 * MIN, 2000.0)
    power = load(power, offs, 7 * MIN, 8 * MIN, -2000.0)  # a minute without exceedance
    assert spans(run(offs, power)) == [(5 * MIN, 10 * MIN)]


def test_bursts_one_minute_apart_are_one_sequence_three_minutes_apart_two() -> None:
    offs = offsets()
    power = load(base(offs), offs, 2 * MIN, 4.5 * MIN, 2000.0)
    close = load(power, offs, 5.5 * MIN, 8 * MIN, 2000.0)
    far = load(power, offs, 7.5 * MIN, 10 * MIN, 2000.0)

    assert spans(run(offs, close)) == [(2 * MIN, 8 * MIN)]
    assert spans(run(offs, far)) == [(2 * MIN, 4.5 * MIN), (7.5 * MIN, 10 * MIN)]


def test_merging_beyond_the_end_gap_needs_comparable_power() -> None:
    offs = offsets()
    config = replace(DEFAULT_CONFIG, merge_gap_s=4 * MIN)
    first = load(base(offs), offs, 2 * MIN, 5 * MIN, 2000.0)
    comparable = load(first, offs, 8 * MIN, 11 * MIN, 1500.0)
    weaker = load(first, offs, 8 * MIN, 11 * MIN, 600.0)

    (merged,) = run(offs, comparable, config=config).sequences
    assert (merged.start, merged.end) == (at(2 * MIN), at(11 * MIN))
    # The merged sequence's power is its energy over its whole span, the gap included.
    assert merged.average_peak_power_w == pytest.approx((3 * 2000 + 3 * 1500) / 9, abs=20.0)
    assert spans(run(offs, weaker, config=config)) == [(2 * MIN, 5 * MIN), (8 * MIN, 11 * MIN)]


def test_a_sequence_that_began_before_the_window_is_seen_whole() -> None:
    offs = offsets()
    straddling = run(offs, load(base(offs), offs, -2 * MIN, 2 * MIN, 2000.0))
    long_running = run(offs, load(base(offs), offs, -70 * MIN, 3 * MIN, 1000.0))
    ended_before = run(offs, load(base(offs), offs, -10 * MIN, -5 * MIN, 2000.0))

    assert spans(straddling) == [(-2 * MIN, 2 * MIN)]
    assert spans(long_running) == [(-70 * MIN, 3 * MIN)]
    assert ended_before.sequences == ()


def test_base_load_is_the_median_power_outside_all_sequences() -> None:
    offs = offsets()
    power = load(base(offs), offs, -10 * HOUR, -7 * HOUR, 1000.0)  # 3 h of heating yesterday
    power = load(power, offs, 5 * MIN, 8 * MIN, 2000.0)
    result = run(offs, power)

    in_sequence = ((offs[:-1] >= -10 * HOUR) & (offs[1:] <= -7 * HOUR)) | (
        (offs[:-1] >= 5 * MIN) & (offs[1:] <= 8 * MIN)
    )
    assert result.base_load_w == pytest.approx(float(np.median(power[~in_sequence])), rel=1e-12)
    assert result.base_load_w != pytest.approx(float(np.median(power)), rel=1e-6)
    (kettle,) = result.sequences
    assert kettle.average_peak_power_w == pytest.approx(kettle.average_power_w - result.base_load_w)


# --- threshold ----------------------------------------------------------------------------------


def test_threshold_uses_only_the_reference_before_the_window() -> None:
    offs = offsets()
    quiet = run(offs, base(offs))
    busy_window = run(offs, load(base(offs), offs, 0.0, 30 * MIN, 5000.0))
    busy_reference = run(offs, load(base(offs), offs, -20 * HOUR, -4 * HOUR, 800.0))

    stats = (quiet.threshold_w, quiet.median_w, quiet.mad_w)
    assert (busy_window.threshold_w, busy_window.median_w, busy_window.mad_w) == stats
    assert busy_reference.median_w is not None
    assert busy_reference.median_w > 900.0


def test_the_threshold_follows_the_mad_when_the_reference_varies() -> None:
    offs = offsets()
    result = run(offs, base(offs, noise_w=100.0))
    assert result.mad_w == pytest.approx(100.0, rel=0.1)
    assert result.threshold_w == pytest.approx(result.median_w + 5 * result.mad_w)


def test_coarse_register_noise_is_not_a_peak_but_a_kettle_is() -> None:
    """A register without decimals: consumption comes in whole Wh (240 W in 15 s)."""
    offs = offsets()
    rng = np.random.default_rng(3)
    power = 230.0 + rng.normal(0.0, 40.0, offs.size - 1)

    def coarse(power_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        timestamps, consumption = readings(offs, power_w)
        register_wh = np.floor(np.cumsum(consumption) * 1000.0)
        return timestamps, np.concatenate(([0.0], np.diff(register_wh) / 1000.0))

    def detect_coarse(power_w: np.ndarray, config: DetectionConfig) -> DetectionResult:
        timestamps, consumption = coarse(power_w)
        return detect(
            "peak", timestamps, consumption, window_start=WS, window_end=WS + WINDOW, config=config
        )

    noise = detect_coarse(power, DEFAULT_CONFIG)
    no_floor = detect_coarse(power, replace(DEFAULT_CONFIG, min_excess_w=0, resolution_factor=0))
    kettle = detect_coarse(load(power, offs, 5 * MIN, 8 * MIN, 2000.0), DEFAULT_CONFIG)

    assert noise.status == "ok"
    assert noise.threshold_w == pytest.approx(noise.median_w + 2 * 240.0)
    assert noise.sequences == ()
    assert no_floor.sequences != ()  # what the floor protects against
    assert spans(kettle) == [(5 * MIN, 8 * MIN)]


# --- missing data -------------------------------------------------------------------------------


def drop(offs: np.ndarray, power: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the readings in `keep`; a kept reading's consumption covers all dropped before it."""
    energy_before = np.concatenate(([0.0], np.cumsum(power * np.diff(offs))))[keep]
    kept = offs[keep]
    return kept, np.diff(energy_before) / np.diff(kept)


def test_no_sequence_spans_a_ten_minute_data_gap() -> None:
    offs = offsets()
    power = load(base(offs), offs, 5 * MIN, 20 * MIN, 2000.0)
    gap = (offs > 8 * MIN) & (offs < 18 * MIN)
    kept, kept_power = drop(offs, power, ~gap)
    assert spans(run(kept, kept_power)) == [(5 * MIN, 8 * MIN), (18 * MIN, 20 * MIN)]

    short = load(base(offs), offs, 6.5 * MIN, 19.5 * MIN, 2000.0)  # 1.5 min each side of the gap
    kept, kept_power = drop(offs, short, ~gap)
    assert run(kept, kept_power).sequences == ()


def test_a_reading_with_unknown_consumption_is_missing_data() -> None:
    offs = offsets()
    timestamps, consumption = readings(offs, load(base(offs), offs, 5 * MIN, 11 * MIN, 2000.0))
    consumption[np.searchsorted(offs, 8 * MIN)] = np.nan
    result = detect("peak", timestamps, consumption, window_start=WS, window_end=WS + WINDOW)
    assert spans(result) == [(5 * MIN, 7.75 * MIN), (8 * MIN, 11 * MIN)]


def test_too_little_reference_data_is_reported_not_guessed() -> None:
    offs = offsets(reference_s=6 * HOUR)
    result = run(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))
    assert result == DetectionResult("insufficient_data", None, None, None, None, ())

    offs = offsets()
    outage = (offs > -20 * HOUR) & (offs < -7 * HOUR)  # 13 h without readings
    kept, kept_power = drop(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0), ~outage)
    assert run(kept, kept_power).status == "insufficient_data"

    assert run(offsets(reference_s=13 * HOUR), base(offsets(reference_s=13 * HOUR))).status == "ok"


def test_sparse_readings_every_minute() -> None:
    offs = offsets(step_s=60.0)
    result = run(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))
    (kettle,) = result.sequences
    assert (kettle.start, kettle.end) == (at(5 * MIN), at(8 * MIN))
    assert kettle.average_peak_power_w == pytest.approx(2000.0, abs=30.0)


def test_randomly_missing_readings() -> None:
    offs = offsets()
    power = load(base(offs), offs, 5 * MIN, 9 * MIN, 2000.0)
    keep = np.random.default_rng(7).random(offs.size) > 0.3
    keep[[0, -1]] = True
    kept, kept_power = drop(offs, power, keep)
    (kettle,) = run(kept, kept_power).sequences
    assert abs((kettle.start - at(5 * MIN)).total_seconds()) <= 45
    assert abs((kettle.end - at(9 * MIN)).total_seconds()) <= 45
    assert kettle.average_peak_power_w == pytest.approx(2000.0, rel=0.15)


# --- anomalies ----------------------------------------------------------------------------------


def test_anomalies_are_rarer_than_peaks() -> None:
    offs = offsets()
    power = load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0)
    power = load(power, offs, 15 * MIN, 18 * MIN, 4000.0)
    peaks, anomalies = run(offs, power, "peak"), run(offs, power, "anomaly")
    assert spans(peaks) == [(5 * MIN, 8 * MIN), (15 * MIN, 18 * MIN)]
    assert spans(anomalies) == [(15 * MIN, 18 * MIN)]
    assert anomalies.sequences[0].kind == "anomaly"
    assert anomalies.threshold_w == pytest.approx(anomalies.median_w + 3000.0)


def test_anomalies_are_at_least_thirty_minutes_apart() -> None:
    offs = offsets()
    power = load(base(offs), offs, 2 * MIN, 5 * MIN, 5000.0)
    power = load(power, offs, 20 * MIN, 23 * MIN, 5000.0)

    assert spans(run(offs, power, "anomaly")) == [(2 * MIN, 5 * MIN)]
    assert len(run(offs, power, "peak").sequences) == 2

    stored = SequenceSummary(at(-20 * MIN), at(-18 * MIN), 5000.0)
    # 20 min after the stored anomaly: dropped; 38 min after it: kept.
    assert spans(run(offs, power, "anomaly", previous=stored)) == [(20 * MIN, 23 * MIN)]
    recent = SequenceSummary(at(-5 * MIN), at(-1 * MIN), 5000.0)
    assert run(offs, power, "anomaly", previous=recent).sequences == ()


def test_an_anomaly_continuing_the_stored_one_is_kept_for_merging() -> None:
    offs = offsets()
    power = load(base(offs), offs, -6 * MIN, 4 * MIN, 5000.0)
    stored = SequenceSummary(at(-6 * MIN), at(0.0), 5000.0)
    assert spans(run(offs, power, "anomaly", previous=stored)) == [(-6 * MIN, 4 * MIN)]


# --- merging with a stored sequence -------------------------------------------------------------


@pytest.mark.parametrize(
    ("gap_s", "old_w", "new_w", "expected"),
    [
        (60.0, 2000.0, 1500.0, True),
        (119.0, 2000.0, 1000.0, True),
        (120.0, 2000.0, 2000.0, False),
        (60.0, 2000.0, 900.0, False),
        (60.0, 900.0, 2000.0, False),
        (0.0, 2000.0, 100.0, True),  # touching: one event
        (-300.0, 2000.0, 100.0, True),  # overlapping: one event seen by two windows
    ],
)
def test_should_merge(gap_s: float, old_w: float, new_w: float, expected: bool) -> None:
    previous = SequenceSummary(at(-10 * MIN), at(0.0), old_w)
    new = SequenceSummary(at(gap_s), at(gap_s + 5 * MIN), new_w)
    assert should_merge(previous, new) is expected


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ws",
    [
        datetime(2024, 3, 31, 0, 30, tzinfo=UTC),  # Europe/Berlin springs forward at 01:00 UTC
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # and falls back at 01:00 UTC
        datetime(2024, 10, 27, 1, 0, tzinfo=UTC),
    ],
)
def test_dst_change_days_behave_like_any_other_day(ws: datetime) -> None:
    offs = offsets()
    power = load(base(offs), offs, -3 * HOUR, -2.5 * HOUR, 1500.0)
    power = load(power, offs, 5 * MIN, 8 * MIN, 2000.0)
    ordinary_ws = datetime(2024, 5, 6, 0, 30, tzinfo=UTC)
    ordinary = run(offs, power, ws=ordinary_ws)
    dst = run(offs, power, ws=ws)

    assert (dst.threshold_w, dst.median_w, dst.mad_w, dst.base_load_w) == (
        ordinary.threshold_w,
        ordinary.median_w,
        ordinary.mad_w,
        ordinary.base_load_w,
    )
    assert spans(dst, ws) == spans(ordinary, ordinary_ws) == [(5 * MIN, 8 * MIN)]
    assert dst.sequences[0].average_peak_power_w == ordinary.sequences[0].average_peak_power_w


def test_outputs_are_aware_utc_and_window_time_zone_does_not_matter() -> None:
    offs = offsets()
    timestamps, consumption = readings(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))
    berlin_summer = timezone(timedelta(hours=2))
    local = detect(
        "peak",
        timestamps,
        consumption,
        window_start=WS.astimezone(berlin_summer),
        window_end=(WS + WINDOW).astimezone(berlin_summer),
    )
    (kettle,) = local.sequences
    assert kettle.start.tzinfo is UTC
    assert kettle.end.tzinfo is UTC
    assert local == run(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))


def test_naive_window_bounds_are_refused() -> None:
    offs = offsets()
    timestamps, consumption = readings(offs, base(offs))
    naive = datetime(2024, 5, 6, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        detect("peak", timestamps, consumption, window_start=naive, window_end=naive)


# --- inputs, determinism, registry ---------------------------------------------------------------


def test_input_forms_and_order_do_not_change_the_result() -> None:
    offs = offsets()
    timestamps, consumption = readings(offs, load(base(offs), offs, 5 * MIN, 8 * MIN, 2000.0))
    window = {"window_start": WS, "window_end": WS + WINDOW}
    expected = detect("peak", timestamps, consumption, **window)

    shuffled = np.random.default_rng(1).permutation(timestamps.size)
    with_duplicate = np.concatenate((np.arange(timestamps.size), [100]))
    variants = [
        (timestamps, consumption),
        (timestamps.view(np.int64), consumption),
        (timestamps.astype("datetime64[us]"), consumption),
        (timestamps[shuffled], consumption[shuffled]),
        (timestamps[with_duplicate], consumption[with_duplicate]),
        (timestamps.tolist(), consumption.tolist()),
    ]
    for variant_timestamps, variant_consumption in variants:
        assert detect("peak", variant_timestamps, variant_consumption, **window) == expected
    assert expected.sequences != ()


def test_registry_and_unknown_kind() -> None:
    assert set(DETECTORS) == {"peak", "anomaly"}
    offs = offsets()
    timestamps, consumption = readings(offs, base(offs))
    with pytest.raises(ValueError, match="unknown sequence kind"):
        detect("spike", timestamps, consumption, window_start=WS, window_end=WS + WINDOW)


@pytest.mark.parametrize(
    "changes",
    [{"peak_k": 0}, {"end_gap_s": -1}, {"merge_power_ratio": 0}, {"min_reference_coverage": 2}],
)
def test_config_refuses_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DetectionConfig(**changes)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    step_s=st.sampled_from([15.0, 20.0, 60.0]),
    kind=st.sampled_from(["peak", "anomaly"]),
)
def test_properties_of_every_result(seed: int, step_s: float, kind: str) -> None:
    rng = np.random.default_rng(seed)
    offs = offsets(step_s=step_s)
    power = base(offs, noise_w=float(rng.uniform(0, 80)), seed=seed)
    for _ in range(int(rng.integers(0, 12))):
        start = float(rng.uniform(-3 * HOUR, 30 * MIN))
        power = load(power, offs, start, start + rng.uniform(0, 15 * MIN), rng.uniform(0, 6000))
    keep = rng.random(offs.size) > rng.uniform(0, 0.3)
    kept, kept_power = drop(offs, power, keep)

    first = run(kept, kept_power, kind)
    assert run(kept, kept_power, kind) == first
    assert first.status == "ok"
    sequences: tuple[DetectedSequence, ...] = first.sequences
    for sequence in sequences:
        assert sequence.end >= WS
        assert sequence.end <= WS + WINDOW
        assert sequence.end - sequence.start >= timedelta(minutes=2)
        assert sequence.average_peak_power_w > 0
        assert sequence.kind == kind
    for earlier, later in pairwise(sequences):
        assert later.start > earlier.end
        if kind == "anomaly":
            assert later.start - earlier.end >= timedelta(minutes=30)


def test_detect_kinds_gives_what_detect_gives_per_kind() -> None:
    from analytics.compute.sequences import detect, detect_kinds

    rng = np.random.default_rng(3)
    start = datetime(2024, 5, 5, 12, 0, tzinfo=UTC)
    count = 24 * 240 + 121
    t_ns = (np.arange(count, dtype=np.int64) * 15 + int(start.timestamp())) * 10**9
    power = 250 + rng.normal(0, 20, count)
    power[5800:5830] += 2000  # a peak in the window
    power[5840:5860] += 6000  # an anomaly
    power[100:130] += 1500  # a peak in the reference
    kwh = np.round(np.clip(power, 0, None) * 15 / 3.6e6, 6)
    kwh[0] = np.nan
    window_start = start + timedelta(hours=24)
    window_end = window_start + timedelta(minutes=30)
    both = detect_kinds(
        ("peak", "anomaly"), t_ns, kwh, window_start=window_start, window_end=window_end
    )
    for kind in ("peak", "anomaly"):
        alone = detect(kind, t_ns, kwh, window_start=window_start, window_end=window_end)
        assert both[kind] == alone
    assert both["peak"].sequences
    assert both["anomaly"].sequences
    short = detect_kinds(("peak",), t_ns[-200:], kwh[-200:], window_start=window_start,
                         window_end=window_end)  # fmt: skip
    assert short["peak"].status == "insufficient_data"
