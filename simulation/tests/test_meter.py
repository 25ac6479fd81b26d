"""Tests of `simulation.meter`: the live household consumption model."""

from __future__ import annotations

import itertools

import pytest

from simulation.meter import REGISTER_EPOCH, HouseholdModel, MeterSample

START = 1_720_000_000.0  # 2024-07-03T09:46:40Z
DAY = 86_400.0


def _day_of_samples(model: HouseholdModel, step: float = 15.0) -> list[MeterSample]:
    return [model.sample(START + k * step) for k in range(1, int(DAY / step) + 1)]


def test_model_is_deterministic_per_seed_and_index():
    first = _day_of_samples(HouseholdModel(seed=7, index=3, start=START))
    again = _day_of_samples(HouseholdModel(seed=7, index=3, start=START))
    other_index = _day_of_samples(HouseholdModel(seed=7, index=4, start=START))
    other_seed = _day_of_samples(HouseholdModel(seed=8, index=3, start=START))
    assert first == again
    assert first != other_index
    assert first != other_seed


def test_model_does_not_depend_on_how_time_is_cut():
    coarse = HouseholdModel(seed=1, index=1, start=START)
    fine = HouseholdModel(seed=1, index=1, start=START)
    coarse.advance_to(START + 6 * 3600)
    for second in range(1, 6 * 3600 + 1):
        fine.advance_to(START + second)
    assert coarse.register_kwh == pytest.approx(fine.register_kwh, abs=1e-6)
    assert coarse.power_w == fine.power_w
    assert coarse.appliance_starts == fine.appliance_starts


@pytest.mark.parametrize("index", [1, 2, 3])
def test_register_never_decreases_and_power_is_plausible(index):
    model = HouseholdModel(seed=0, index=index, start=START)
    start_register = model.sample(START).register_kwh
    samples = _day_of_samples(model)
    registers = [sample.register_kwh for sample in samples]
    years_since_2020 = (START - REGISTER_EPOCH) / (365.25 * DAY)
    assert 500 + 4000 * years_since_2020 <= start_register <= 30_000 + 20_000 * years_since_2020
    assert all(later >= earlier for earlier, later in itertools.pairwise(registers))
    assert all(100 <= sample.power_w < 15_000 for sample in samples)
    assert all(round(value, 4) == value for value in registers)
    daily_kwh = registers[-1] - start_register
    assert 2 < daily_kwh < 25  # a household uses roughly 3-15 kWh a day
    assert model.sample(START).register_kwh == registers[-1]  # going back is ignored


def test_a_restarted_model_continues_above_the_previous_run():
    for index in range(1, 6):
        first = HouseholdModel(seed=0, index=index, start=START)
        last = first.sample(START + DAY).register_kwh
        restarted = HouseholdModel(seed=0, index=index, start=START + DAY + 60)
        assert last < restarted.sample(START + DAY + 60).register_kwh < last + 15
        assert 250 < first.expected_mean_power_w < 500


def test_appliance_events_appear_over_a_simulated_day():
    starts = []
    for index in range(1, 11):
        model = HouseholdModel(seed=0, index=index, start=START)
        model.advance_to(START + DAY)
        starts.append(model.appliance_starts)
        assert 20 <= model.fridge_cycles <= 28  # about one cycle an hour
    per_day = [sum(counter.values()) for counter in starts]
    assert all(count >= 1 for count in per_day)
    assert 3 <= sum(per_day) / len(per_day) <= 15
    seen = set().union(*starts)
    assert {"kettle", "washing_machine", "oven"} <= seen
