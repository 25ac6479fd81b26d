"""Tests of `simulation.appliances`: the antgen allowlist, the loader's restriction and the
cycle renderer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulation import appliances
from simulation.appliances import (
    TRAIN_ALLOWLIST,
    load_allowlisted_models,
    load_model,
    render_cycle,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The allowlist as a data file in the repository (docs/classifier.md, "Training data").
ALLOWLIST_FILE = REPO_ROOT / "simulation" / "antgen-train-allowlist.txt"


def _allowlist_entries(file: Path) -> list[str]:
    lines = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_allowlist_matches_repository_file() -> None:
    assert list(TRAIN_ALLOWLIST) == _allowlist_entries(ALLOWLIST_FILE)
    assert len(TRAIN_ALLOWLIST) == 65
    assert len(set(TRAIN_ALLOWLIST)) == 65


def test_loader_opens_only_allowlisted_files(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    original = appliances._parse_xml

    def recording(file: Path):  # type: ignore[no-untyped-def]
        opened.append(file)
        return original(file)

    monkeypatch.setattr(appliances, "_parse_xml", recording)
    models = appliances._load_all.__wrapped__(appliances.appliances_root())
    root = appliances.appliances_root()
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
