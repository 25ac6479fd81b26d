"""Simulated households from antgen models: allowlist, loader restriction, rendering, register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.compute.sequences import detect
from analytics.simulation import antgen_models
from analytics.simulation.antgen_models import (
    TRAIN_ALLOWLIST,
    load_allowlisted_models,
    load_model,
    render_cycle,
)
from analytics.simulation.household import (
    HouseholdConfig,
    PlannedRun,
    simulate_household,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The allowlist as a data file in the repository (docs/classifier.md, "Training data").
ALLOWLIST_FILE = REPO_ROOT / "analytics" / "simulation" / "antgen-train-allowlist.txt"
# The project's original copy, beside the checkout (../shared/ml/) where one exists.
SHARED_ALLOWLIST_FILE = REPO_ROOT.parent / "shared" / "ml" / "antgen-train-allowlist.txt"
START = datetime(2024, 1, 1, tzinfo=UTC)


def _allowlist_entries(file: Path) -> list[str]:
    lines = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_allowlist_matches_repository_file() -> None:
    assert list(TRAIN_ALLOWLIST) == _allowlist_entries(ALLOWLIST_FILE)
    assert len(TRAIN_ALLOWLIST) == 65
    assert len(set(TRAIN_ALLOWLIST)) == 65


def test_allowlist_matches_shared_file() -> None:
    if not SHARED_ALLOWLIST_FILE.exists():
        pytest.skip("no shared allowlist file beside the checkout")
    assert list(TRAIN_ALLOWLIST) == _allowlist_entries(SHARED_ALLOWLIST_FILE)


def test_loader_opens_only_allowlisted_files(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    original = antgen_models._parse_xml

    def recording(file: Path):  # type: ignore[no-untyped-def]
        opened.append(file)
        return original(file)

    monkeypatch.setattr(antgen_models, "_parse_xml", recording)
    models = antgen_models._load_all.__wrapped__(antgen_models.appliances_root())
    root = antgen_models.appliances_root()
    assert [str(path.relative_to(root)) for path in opened] == list(TRAIN_ALLOWLIST)
    assert [model.path for model in models] == list(TRAIN_ALLOWLIST)
    # Some packaged models are not allowlisted; asking for one fails before any file is read.
    packaged = {str(p.relative_to(root)) for p in root.glob("*/*/mode*")}
    outside = sorted(packaged - set(TRAIN_ALLOWLIST))
    assert outside
    opened.clear()
    for path in outside:
        with pytest.raises(ValueError, match="allowlist"):
            load_model(path)
    assert opened == []


def test_models_parse_every_segment_type() -> None:
    models = load_allowlisted_models()
    kinds = {type(segment).__name__ for model in models for segment in model.segments}
    assert kinds == {"ConstantSegment", "LinearSegment", "DecaySegment", "GrowthSegment"}
    for model in models:
        assert model.duration_s > 0
        assert sum(s.fraction for s in model.segments) == pytest.approx(1.0, abs=0.02)


def test_rendering_is_deterministic_and_jittered() -> None:
    model = load_model("KETTLE/ECO-H1/mode0")
    nominal = render_cycle(model)
    assert nominal.size == model.duration_s
    assert 1500 < nominal.mean() < 2100
    first = render_cycle(model, np.random.default_rng(7))
    again = render_cycle(model, np.random.default_rng(7))
    other = render_cycle(model, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)
    assert (first >= 0).all()


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
