"""The peak classifier without Django: features, own-reference detection, history peaks,
training determinism, the validation report and the artefact checks."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.compute.classifier.artefact import (
    CURRENT_FILE,
    MODEL_FILE,
    SIDECAR_FILE,
    ModelUnavailableError,
    artefact_load,
    current_version,
    probabilities,
)
from analytics.compute.classifier.features import (
    FEATURE_NAMES,
    PowerSeries,
    context_from_readings,
    intervals_from_readings,
    intervals_from_samples,
    peak_features,
    without_context,
)
from analytics.compute.classifier.history import HistoryError, history_from_line
from analytics.compute.classifier.peaks import history_peaks
from analytics.compute.classifier.pipeline import (
    _broken_promises,
    classifier_build,
    history_classify,
)
from analytics.compute.classifier.training import (
    TrainingConfig,
    calibrate,
    calibration_day_plan,
    calibrators_fit,
    classified_categories,
    dataset_restrict,
    fold_span,
    household_dataset,
    peak_dataset_build,
    validate_held_out_programmes,
)
from analytics.compute.detection import instant_ns
from analytics.compute.sequences import detect_peaks_own_reference
from analytics.tests.helpers import TINY_TRAINING
from simulation.appliances import CATEGORY_BY_ANTGEN_TYPE
from simulation.households import DeviceRegion, HouseholdConfig, PlannedRun, simulate_household

START = datetime(2024, 3, 4, tzinfo=UTC)
F = {name: i for i, name in enumerate(FEATURE_NAMES)}
FRIDGE = ("fridge", "freezer")


def _quiet_kettle_day(kettle_at_s: int = 8 * 3600, days: int = 1) -> tuple[object, ...]:
    config = HouseholdConfig(
        activities=(),
        planned=(PlannedRun("KETTLE/ECO-H1/mode0", kettle_at_s, duration_s=240, exact=True),),
        fridge=False,
        freezer_probability=0.0,
        unlabelled=False,
        lost_push_probability=0.0,
    )
    household = simulate_household(START, days, seed=3, config=config)
    return household, household.runs[0]


def test_features_of_a_constant_load() -> None:
    series = PowerSeries(np.full(12, 15.0), np.full(12, 2000.0))
    features = peak_features(series)
    assert features.shape == (len(FEATURE_NAMES),)
    assert features[F["mean_w"]] == pytest.approx(2000.0)
    assert features[F["max_w"]] == pytest.approx(2000.0)
    assert features[F["cv"]] == pytest.approx(0.0)
    assert features[F["band_1500_2500"]] == pytest.approx(1.0)
    assert features[F["log_duration_s"]] == pytest.approx(np.log1p(180.0))
    assert features[F["log_energy_wh"]] == pytest.approx(np.log1p(100.0))


def test_features_see_switching() -> None:
    steady = peak_features(PowerSeries(np.full(40, 15.0), np.full(40, 1000.0)))
    power = np.where(np.arange(40) % 4 < 2, 1800.0, 200.0)
    switching = peak_features(PowerSeries(np.full(40, 15.0), power))
    assert switching[F["big_steps_per_hour"]] > 20 > steady[F["big_steps_per_hour"]]
    assert switching[F["cv"]] > 0.5


def _register(power_w: np.ndarray, step_s: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Readings every `step_s` of a meter drawing `power_w[i]` over the interval ending at
    reading i: instants (ns) and each reading's consumption (kWh; NaN for the first)."""
    times = (np.arange(power_w.size, dtype=np.int64) * step_s + 1_700_000_000) * 1_000_000_000
    kwh = power_w * step_s / 3_600_000
    kwh[0] = np.nan
    return times, kwh


def test_context_features_see_what_ran_before_the_peak() -> None:
    # An hour at 100 W, a 400 W load for the last 20 minutes before a 2 kW peak of 5 minutes.
    power = np.concatenate([np.full(240, 100.0), np.full(80, 500.0), np.full(20, 2000.0)])
    times, kwh = _register(power)
    start_ns = int(times[319])  # where the peak's first interval (at 2 kW) begins
    context = context_from_readings(times, kwh, start_ns=start_ns)
    assert context.floor_w == pytest.approx(100.0)
    assert context.near_w == pytest.approx(500.0)
    assert context.far_w == pytest.approx(300.0, rel=0.02)  # 10 of its 20 minutes at 500 W
    series = intervals_from_readings(times, kwh, start_ns=start_ns, end_ns=int(times[-1]))
    features = dict(zip(FEATURE_NAMES, peak_features(series, context), strict=True))
    assert features["before_10min_lift"] == pytest.approx(np.log1p(400.0))
    assert features["before_10_30min_lift"] == pytest.approx(np.log1p(200.0), rel=0.02)
    assert features["before_10min_share"] == pytest.approx(400.0 / 1900.0)
    # A kettle after nothing: no lift. No readings before: unknown. No context given: unknown.
    quiet = np.concatenate([np.full(320, 100.0), np.full(20, 2000.0)])
    times, kwh = _register(quiet)
    nothing = peak_features(series, context_from_readings(times, kwh, start_ns=int(times[319])))
    assert nothing[-3:].tolist() == [0.0, 0.0, 0.0]
    first = context_from_readings(times, kwh, start_ns=int(times[0]))
    assert np.isnan([first.floor_w, first.near_w, first.far_w]).all()
    assert np.isnan(peak_features(series)[-3:]).all()


def test_intervals_from_readings_skip_gaps_and_unknowns() -> None:
    t = np.array([0, 15, 30, 400, 415, 430], dtype=np.int64) * 1_000_000_000
    kwh = np.array([np.nan, 0.01, np.nan, 0.02, -0.1, 0.005])
    series = intervals_from_readings(t, kwh, start_ns=0, end_ns=int(t[-1]), max_gap_s=300)
    # 0-15 valid; 15-30 unknown; 30-400 a gap; 400-415 negative; 415-430 valid
    assert series.duration_s.tolist() == [15.0, 15.0]
    assert series.power_w == pytest.approx([0.01 * 3.6e6 / 15, 0.005 * 3.6e6 / 15])


def test_intervals_from_samples_validates() -> None:
    t = np.array([15, 30, 45], dtype=np.int64) * 1_000_000_000
    series = intervals_from_samples(t, np.array([1.0, 2.0, 3.0]))
    assert series.duration_s.tolist() == [15.0, 15.0, 15.0]
    with pytest.raises(ValueError, match="increasing"):
        intervals_from_samples(t[::-1].copy(), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="finite"):
        intervals_from_samples(t, np.array([1.0, np.nan, 3.0]))
    with pytest.raises(ValueError, match="finite"):
        intervals_from_samples(t, np.array([1.0, -2.0, 3.0]))
    with pytest.raises(ValueError, match="at least one"):
        intervals_from_samples(t[:0], np.zeros(0))


def test_instant_ns_exact_and_aware_only() -> None:
    moment = datetime(2024, 1, 18, 0, 0, 15, 123456, tzinfo=UTC)
    assert instant_ns(moment) == 1_705_536_015_123_456_000
    with pytest.raises(ValueError, match="aware"):
        instant_ns(moment.replace(tzinfo=None))


def test_own_reference_finds_a_kettle_in_a_single_day() -> None:
    household, kettle = _quiet_kettle_day()
    first = datetime.fromtimestamp(household.timestamps_ns[0] / 1e9, UTC)
    last = datetime.fromtimestamp(household.timestamps_ns[-1] / 1e9, UTC)
    result = detect_peaks_own_reference(
        household.timestamps_ns, household.consumption_kwh, window_start=first, window_end=last
    )
    assert result.status == "ok"
    (peak,) = result.sequences
    assert peak.start < kettle.end
    assert kettle.start < peak.end
    # the same day through history_peaks (shorter than 24 h: own reference)
    (same,) = history_peaks(household.timestamps_ns, household.consumption_kwh)
    assert (same.start, same.end) == (peak.start, peak.end)


def test_history_peaks_uses_production_windows_with_enough_history() -> None:
    household, kettle = _quiet_kettle_day(kettle_at_s=86_400 + 8 * 3600, days=2)
    peaks = history_peaks(household.timestamps_ns, household.consumption_kwh)
    (peak,) = peaks
    assert peak.start < kettle.end
    assert kettle.start < peak.end


def test_history_from_line_parses_register_readings() -> None:
    line = json.dumps(
        {
            "day": 17,
            "readings": [
                ["2024-01-18T00:00:30+01:00", 12345.6791],
                ["2024-01-18T00:00:15+01:00", 12345.6789],
                ["2024-01-18T00:00:45+01:00", 12345.6790],
                ["2024-01-18T00:00:45+01:00", 99.0],
            ],
        }
    )
    day, t, kwh = history_from_line(line)
    assert day == 17
    assert t.tolist() == [
        instant_ns(datetime(2024, 1, 17, 23, 0, s, tzinfo=UTC)) for s in (15, 30, 45)
    ]
    assert np.isnan(kwh[0])
    assert kwh[1] == pytest.approx(0.0002)
    assert np.isnan(kwh[2])  # the register went backwards


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "not JSON"),
        ('{"day": 1}', "readings"),
        ('{"readings": [["2024-01-18T00:00:15", 1.0]]}', "offset"),
        ('{"readings": [["yesterday", 1.0]]}', "ISO-8601"),
        ('{"readings": [["2024-01-18T00:00:15Z", "1.0"]]}', "finite number"),
        ('{"readings": [["2024-01-18T00:00:15Z"]]}', "timestamp, register"),
    ],
)
def test_history_from_line_refuses_bad_lines(line: str, message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        history_from_line(line)


def test_training_is_deterministic(tmp_path: Path) -> None:
    config = replace(TINY_TRAINING, households=4, max_iter=5)
    first = classifier_build(tmp_path / "a", config)
    second = classifier_build(tmp_path / "b", config)
    assert first.version == second.version
    a = (tmp_path / "a" / first.version / MODEL_FILE).read_bytes()
    b = (tmp_path / "b" / second.version / MODEL_FILE).read_bytes()
    assert a == b
    assert first.report["unseen_devices"] == second.report["unseen_devices"]
    rows = np.random.default_rng(0).uniform(0, 3000, (20, len(FEATURE_NAMES)))
    one, two = artefact_load(tmp_path / "a"), artefact_load(tmp_path / "b")
    np.testing.assert_array_equal(
        one.classifier.predict_proba(rows), two.classifier.predict_proba(rows)
    )


def test_validation_report_and_sidecar(tiny_model_dir: Path) -> None:
    version = current_version(tiny_model_dir)
    assert version is not None
    sidecar = json.loads((tiny_model_dir / version / SIDECAR_FILE).read_text())
    for key in ("classes", "feature_names", "versions", "seeds", "detector", "metrics"):
        assert key in sidecar
    assert set(sidecar["versions"]) == {"scikit-learn", "numpy", "antgen"}
    assert sidecar["feature_names"] == list(FEATURE_NAMES)
    assert sidecar["detector"]["peak_k"] == 5.0
    held = sidecar["metrics"]["held_out_programmes"]
    for metrics in held["per_category"].values():
        assert {"precision", "recall", "f1", "support", "held_out"} <= set(metrics)
    assert held["macro_f1_categories"]
    assert all(held["per_category"][c]["held_out"] for c in held["macro_f1_categories"])
    unseen = sidecar["metrics"]["unseen_devices"]
    assert unseen["macro_f1_categories"]
    for metrics in unseen["per_category"].values():
        assert {"precision", "recall", "f1", "support", "classified", "in_macro"} <= set(metrics)
    assert [band["low"] for band in unseen["reliability"]][:2] == [0.0, 0.1]
    assert sum(band["count"] for band in unseen["reliability"]) == unseen["tested_peaks"] * len(
        sidecar["classes"]
    )
    folds = unseen["folds"]
    # Two folds: each tests one half, beyond every training device.
    assert [fold["tested_devices"] for fold in folds] == ["beyond", "beyond"]
    for fold in folds:
        assert {"macro_f1", "uncalibrated_macro_f1", "device_positions"} <= set(fold)
    alone = unseen["without_context"]
    assert set(alone["per_category"]) == set(unseen["per_category"])
    assert {"macro_f1", "uncalibrated_macro_f1"} <= set(alone)
    text = (tiny_model_dir / version / "validation.txt").read_text()
    assert text.count("macro-F1") == 4 + len(folds)
    assert "without their context" in text
    assert text.count("right less than half the time") == 2
    assert text.count("beyond the training devices' span") == 2
    assert "Unseen devices" in text


def test_validation_names_the_categories_whose_suggestions_break_the_promise() -> None:
    def scores(tp: int, fp: int, classified: bool = True) -> dict[str, object]:
        return {"tp": tp, "fp": fp, "classified": classified}

    part = {
        "per_category": {
            "kettle": scores(7, 8),  # 15 shown, fewer than half right
            "toaster": scores(6, 8),  # 14 shown: too few to judge
            "dryer": scores(8, 8),  # exactly half
            "tvsAndMonitors": scores(0, 20, classified=False),
        }
    }
    assert _broken_promises(part) == "kettle 7 of 15"
    part["per_category"]["kettle"] = scores(8, 7)
    assert _broken_promises(part) == "none"


def test_only_inner_folds_test_devices_inside_the_training_span() -> None:
    assert [fold_span(f, 3) for f in range(3)] == ["beyond", "inside", "beyond"]
    assert [fold_span(f, 5) for f in range(5)] == ["beyond", "inside", "inside", "inside", "beyond"]
    assert [fold_span(f, 2) for f in range(2)] == ["beyond", "beyond"]


def test_held_out_programmes_never_train_on_what_they_test() -> None:
    config = replace(TINY_TRAINING, households=4)
    candidates = sorted(set(CATEGORY_BY_ANTGEN_TYPE.values()))
    dataset = peak_dataset_build(config, categories=candidates)
    dataset = dataset_restrict(dataset, classified_categories(dataset, config))
    report = validate_held_out_programmes(dataset, config)
    assert report["folds"]
    for fold in report["folds"]:
        held = set(fold["held_out"])
        touching = sum(1 for present in dataset.sources if present & held)
        # every peak a held-out programme touched is out of training
        assert fold["train"] <= len(dataset) - touching
        for path in held:
            category = CATEGORY_BY_ANTGEN_TYPE[path.split("/")[0]]
            assert len(report["programmes"][category]) >= 2


def test_loading_checks_checksum_sidecar_and_folder(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, folder)
    version = current_version(folder)
    assert version is not None
    model = artefact_load(folder)
    assert model.version == version
    probs = probabilities(model, np.zeros((1, len(FEATURE_NAMES))))[0]
    assert set(probs) == set(model.categories)
    assert all(0.0 <= p <= 1.0 for p in probs.values())

    (folder / CURRENT_FILE).write_text("../../etc\n")
    with pytest.raises(ModelUnavailableError, match="invalid model version"):
        artefact_load(folder)
    (folder / CURRENT_FILE).write_text(version + "\n")

    sidecar_path = folder / version / SIDECAR_FILE
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["versions"]["scikit-learn"] = "0.0.1"
    sidecar_path.write_text(json.dumps(sidecar))
    with pytest.raises(ModelUnavailableError, match="scikit-learn"):
        artefact_load(folder)
    shutil.copy(tiny_model_dir / version / SIDECAR_FILE, sidecar_path)

    with (folder / version / MODEL_FILE).open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelUnavailableError, match="checksum"):
        artefact_load(folder)

    with pytest.raises(ModelUnavailableError, match="no model"):
        artefact_load(tmp_path / "nothing")


def test_history_classify_gives_every_category(tiny_model_dir: Path) -> None:
    model = artefact_load(tiny_model_dir)
    household, kettle = _quiet_kettle_day()
    (peak,) = history_classify(model, household.timestamps_ns, household.consumption_kwh)
    assert set(peak.probs) == set(model.categories)
    assert peak.start < kettle.end
    assert kettle.start < peak.end
    assert isinstance(TrainingConfig().to_json()["seed"], int)
    assert peak.start < peak.end <= peak.start + timedelta(hours=1)


def test_training_and_classify_readings_see_the_same_features(tiny_model_dir: Path) -> None:
    """A kettle after a washing-machine-like half hour: the peak of training's labelling and the
    peak of `history_classify` get the same probabilities from one model, context included."""
    model = artefact_load(tiny_model_dir)
    config = HouseholdConfig(
        activities=(),
        planned=(
            PlannedRun("WASHINGMACHINE/ECO-H1/mode2", 7 * 3600, exact=True),
            PlannedRun("KETTLE/ECO-H1/mode0", 12 * 3600, duration_s=240, exact=True),
        ),
        fridge=False,
        freezer_probability=0.0,
        unlabelled=False,
    )
    household = simulate_household(START, 1, seed=5, config=config)
    dataset = household_dataset(household, model.categories)
    assert len(dataset) >= 2
    assert np.isfinite(dataset.features[:, -3:]).all()
    served = history_classify(model, household.timestamps_ns, household.consumption_kwh)
    assert len(served) == len(dataset)
    expected = probabilities(model, dataset.features)
    for peak, probs in zip(served, expected, strict=True):
        assert peak.probs == pytest.approx(probs)


def test_peaks_without_context_take_their_own_calibration(tiny_model_dir: Path) -> None:
    classifier = artefact_load(tiny_model_dir).classifier
    household, _ = _quiet_kettle_day()
    dataset = household_dataset(household, classifier.categories)
    alone = without_context(dataset.features)
    assert np.isfinite(dataset.features[:, -3:]).all()
    assert np.isnan(alone[:, -3:]).all()
    proba = classifier.predict_proba(np.vstack([dataset.features, alone]))
    categories = classifier.categories
    raw, raw_alone = classifier.raw_proba(dataset.features), classifier.raw_proba(alone)
    assert proba[: len(dataset)] == pytest.approx(
        calibrate(raw, categories, classifier.calibrators)
    )
    expected_alone = calibrate(raw_alone, categories, classifier.calibrators_without_context)
    assert proba[len(dataset) :] == pytest.approx(expected_alone)
    # the other maps really are other: through the meter's maps the numbers would differ
    assert not np.allclose(calibrate(raw_alone, categories, classifier.calibrators), expected_alone)
    assert set(classifier.calibrators_without_context) == set(classifier.categories)


def test_unknown_model_logs_nothing_at_import(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert current_version(Path("/nonexistent-folder")) is None
    assert not caplog.records


def test_fridge_and_freezer_cycles_are_detected_and_labelled() -> None:
    """Strong fridges and freezers (the upper part of their power range) make peaks of their
    own in quiet households, and training labels those peaks with their category; fridge is
    then a class of the model."""
    categories = ("fridge", "freezer", "kettle")
    for fridge, column in ((True, 0), (False, 1)):
        config = HouseholdConfig(
            activities=(),
            unlabelled=False,
            fridge=fridge,
            freezer_probability=0.0 if fridge else 1.0,
            device_spread=True,
            device_region=DeviceRegion(power=(0.85, 1.0)),
        )
        found = np.zeros(len(categories), dtype=int)
        for seed in range(6):
            household = simulate_household(START, 1, seed=100 + seed, config=config)
            labels = household_dataset(household, categories).labels(0.25)
            found += labels.sum(axis=0)
            # nothing else ran: every peak is the cooling appliance's
            assert labels[:, column].all()
        assert found[column] >= 10
        assert found.sum() == found[column]
    config = replace(TINY_TRAINING, households=3, single_days=12)
    dataset = peak_dataset_build(config, categories=FRIDGE)
    assert "fridge" in classified_categories(dataset, config)


def test_calibration_takes_the_most_cautious_fold() -> None:
    raw = np.linspace(0, 1, 200)[:, None]
    always = raw[:, 0] >= 0.3  # fold 1: a raw 0.3 is already the category
    late = raw[:, 0] >= 0.8  # fold 2: only from 0.8 on
    calibrators = calibrators_fit([(raw, always[:, None]), (raw, late[:, None])], ["kettle"])
    probs = calibrate(np.array([[0.5], [0.9], [0.1]]), ["kettle"], calibrators)[:, 0]
    assert probs.tolist() == [0.0, 1.0, 0.0]
    never = calibrators_fit([(raw, np.zeros((200, 1), dtype=bool))], ["iron"])
    assert calibrate(np.array([[0.99]]), ["iron"], never)[0, 0] == 0.0


def test_fold_calibration_days_keep_to_the_fold_training_region() -> None:
    held = frozenset({"KETTLE/ECO-H1/mode0", "DRYER/ECO-H1/mode0"})
    config = replace(TINY_TRAINING, folds=3, calibration_days=4)
    days = calibration_day_plan(config, 1, held)
    assert len(days) == 4
    assert len({seed for seed, _ in days}) == 4
    positioned = 0
    for seed, household_config in days:
        household = simulate_household(START, 1, seed, household_config)
        for run in household.runs:
            assert run.source not in held
            if run.device_position is not None:
                power, duration = run.device_position
                assert not 1 / 3 <= power < 2 / 3
                assert not 1 / 3 <= duration < 2 / 3
                positioned += 1
    assert positioned
    final = calibration_day_plan(config)
    assert len(final) == 12
    assert not {seed for seed, _ in final} & {seed for seed, _ in days}
    assert all(c.device_region is None for _, c in final)
