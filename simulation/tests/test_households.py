"""Tests of `simulation.households`: simulated household days, their register and ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from simulation.households import simulate_household

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_register_monotonic_in_tenth_wh_steps() -> None:
    household = simulate_household(START, 1, seed=3)
    units = np.rint(household.register_kwh * 10_000)
    np.testing.assert_allclose(household.register_kwh * 10_000, units, atol=1e-6)
    assert (np.diff(units) >= 0).all()
    consumption = household.consumption_kwh
    assert np.isnan(consumption[0])
    np.testing.assert_allclose(consumption[1:], np.diff(units) / 10_000, atol=1e-9)
    steps_s = np.diff(household.timestamps_ns) / 1e9
    assert steps_s.min() >= 12.9
    assert np.median(steps_s) == pytest.approx(15, abs=0.5)
    assert steps_s.max() > 25  # some pushes are lost


def test_ground_truth_consistent_with_energy() -> None:
    household = simulate_household(START, 2, seed=5)
    total_kwh = household.power_w.sum() / 3.6e6
    base_kwh = household.base_w.sum() / 3.6e6
    runs_kwh = sum(run.energy_kwh for run in household.runs)
    assert total_kwh == pytest.approx(base_kwh + runs_kwh, rel=1e-9)
    # The register follows the power to within its resolution and the unseen edges.
    metered = household.register_kwh[-1] - household.register_kwh[0]
    edges_s = household.seconds - (household.timestamps_ns[-1] - household.timestamps_ns[0]) / 1e9
    assert abs(metered - total_kwh) < 0.0002 + edges_s * household.power_w.max() / 3.6e6
    for run in household.runs:
        assert run.start.tzinfo is UTC or run.start.utcoffset() == timedelta(0)
        offset = int((run.start - household.start).total_seconds())
        length = int((run.end - run.start).total_seconds())
        assert run.energy_kwh == pytest.approx(run.mean_power_w * length / 3.6e6)
        # The run's energy is part of the power above the base load where it ran.
        above_kwh = (household.power_w - household.base_w)[offset : offset + length].sum() / 3.6e6
        assert run.energy_kwh <= above_kwh + 1e-9
    categories = {run.category for run in household.runs}
    assert "fridge" in categories


def test_same_seed_same_household() -> None:
    a = simulate_household(START, 1, seed=11)
    b = simulate_household(START, 1, seed=11)
    np.testing.assert_array_equal(a.timestamps_ns, b.timestamps_ns)
    np.testing.assert_array_equal(a.register_kwh, b.register_kwh)
    assert a.runs == b.runs
