"""Calibration of the peak classifier on programmes it never saw (slow: trains a small model).

A model trained without some programmes, calibrated as in production, classifies fresh
simulated household-days that run only those programmes: per category with enough suggestions,
those shown (probability >= 0.5) must be right at least half the time (docs/classifier.md,
"Calibration")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analytics.compute.classifier.artefact import artefact_load
from analytics.compute.classifier.pipeline import classifier_build
from analytics.compute.classifier.training import (
    FIRST_DAY,
    TrainingConfig,
    household_dataset,
)
from simulation.appliances import CATEGORY_BY_ANTGEN_TYPE
from simulation.households import DeviceRegion, simulate_household

HELD_OUT = (
    "KETTLE/ECO-H1/mode3",
    "COFFEEMAKER/ECO-H1/mode1",
    "WASHINGMACHINE/ECO-H1/mode3",
    "DRYER/ECO-H1/mode1",
    "COOKINGSTOVE/dev_D33097/mode2",
    "REFRIGERATOR/ECO-H1/mode5",
    "REFRIGERATOR/dev_76C07F/mode9",
)
MIN_SHOWN = 15


@pytest.mark.slow
def test_suggestions_at_half_are_right_half_the_time_on_held_out_programmes(
    tmp_path: Path,
) -> None:
    config = replace(
        TrainingConfig(),
        households=4,
        days=2,
        single_days=100,
        evaluation_days=20,
        max_iter=50,
        min_positives=15,
        excluded_programmes=HELD_OUT,
    )
    classifier_build(tmp_path, config)
    model = artefact_load(tmp_path)
    candidates = sorted(set(CATEGORY_BY_ANTGEN_TYPE.values()))
    household_config = config.household_config(DeviceRegion(programmes=frozenset(HELD_OUT)))
    household_config = replace(
        household_config, device_region=DeviceRegion(programmes=frozenset(HELD_OUT))
    )
    shown = dict.fromkeys(model.categories, 0)
    right = dict(shown)
    for j in range(60):
        household = simulate_household(FIRST_DAY, 1, 900_000 + j, household_config)
        dataset = household_dataset(household, candidates)
        if not len(dataset):
            continue
        proba = model.classifier.predict_proba(dataset.features)
        truth = dataset.labels(config.label_share)
        for k, category in enumerate(model.categories):
            suggested = proba[:, k] >= 0.5
            shown[category] += int(suggested.sum())
            right[category] += int((suggested & truth[:, candidates.index(category)]).sum())
    checked = [c for c in model.categories if shown[c] >= MIN_SHOWN]
    assert checked, shown
    precision = {c: right[c] / shown[c] for c in checked}
    assert all(p >= 0.5 for p in precision.values()), precision
    assert np.isfinite(list(precision.values())).all()
