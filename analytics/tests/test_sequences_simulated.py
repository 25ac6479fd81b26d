"""The detector on a simulated household (`simulation.households`): a kettle on a quiet base load
is found as one peak with about its energy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.compute.sequences import detect
from simulation.households import HouseholdConfig, PlannedRun, simulate_household

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_kettle_on_quiet_base_is_detected() -> None:
    kettle_at_s = 86_400 + 8 * 3600
    config = HouseholdConfig(
        activities=(),
        planned=(PlannedRun("KETTLE/ECO-H1/mode0", kettle_at_s, duration_s=240, exact=True),),
        fridge=False,
        freezer_probability=0.0,
        unlabelled=False,
        lost_push_probability=0.0,
    )
    household = simulate_household(START, 2, seed=1, config=config)
    (kettle,) = household.runs
    assert kettle.category == "kettle"
    window_start = household.at(kettle_at_s - 600)
    result = detect(
        "peak",
        household.timestamps_ns,
        household.consumption_kwh,
        window_start=window_start,
        window_end=window_start + timedelta(minutes=30),
    )
    assert result.status == "ok"
    (sequence,) = result.sequences
    assert sequence.start < kettle.end
    assert kettle.start < sequence.end
    assert sequence.average_peak_power_w > 1000
    assert sequence.energy_kwh == pytest.approx(kettle.energy_kwh, rel=0.3)
