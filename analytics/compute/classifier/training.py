"""Training data, honest validation, calibration and the fit of the peak classifier.

Training data (docs/classifier.md): simulated households built only from the allowlisted antgen
models (`simulation.households`), every household with its own *devices* (the recorded models
with powers, cycle lengths and segments scaled away from the recording), seen as the platform
sees them — a 0.1 Wh register every 15 s ± jitter with lost pushes — and cut into peaks by the
production detector (`analytics.compute.classifier.peaks`): multi-day households window by
window with the 24 h before as reference, as the half-hourly task does, and single
household-days with their own readings as reference, as `classify_readings` does. Each peak is
labelled with every category whose runs contribute at least `label_share` of the energy that
loads (everything but the base load) put into it.

Validation, three ways (docs/classifier.md, "Validation"):

* **unseen devices** (the estimate for a new household's appliances): fold f trains on the
  peaks of devices whose power *and* cycle length lie outside the f-th third of their
  category's ranges and of programmes other than the f-th held-out ones, then runs the whole
  pipeline (detection, features, model) on freshly simulated single household-days whose
  devices all lie in that third and run those programmes, scored against the true causes of
  each peak over every category the detector produces (also those the model has no class for);
* **held-out programmes**: the previous figure, whole antgen models held out, same devices'
  scaling seen;
* **held-out households**: devices seen in training, the optimistic figure.

Calibration: per category an isotonic map from the model's own raw score to the share of peaks
that really were that category, fitted on fresh simulated household-days that no model trained
on (`calibration_day_plan`): for the final model, devices anywhere in their ranges; for each fold of
the unseen-device validation, devices of that fold's training region only, so the validation
calibrates exactly as production does and its calibrated figures are the ones to expect. Wrong
peaks count `calibration_negative_weight` times (docs/classifier.md, "Calibration"). A second
set of maps, fitted on the same peaks with their context features removed, serves peaks whose
context is unknown (`/api/v1/ml`); the unseen-device report gives their figure too
(`without_context`).

The model is one gradient-boosted tree ensemble per category (scikit-learn
HistGradientBoostingClassifier, binary), seeded, without early stopping: the same data and seed
give the same model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression

from analytics.compute.classifier.features import (
    FEATURE_NAMES,
    context_from_readings,
    context_unknown,
    intervals_from_readings,
    peak_features,
    without_context,
)
from analytics.compute.classifier.peaks import history_peaks
from analytics.compute.detection import instant_ns
from analytics.compute.sequences import DEFAULT_CONFIG, DetectedSequence
from simulation.households import (
    DEFAULT_ACTIVITIES,
    Activity,
    DeviceRegion,
    HouseholdConfig,
    SimulatedHousehold,
    simulate_household,
)

FIRST_DAY = datetime(2024, 1, 8, tzinfo=UTC)
# Categories that are a mix of unlike devices (TVs, computers, printers, amplifiers): never
# classified, though they are scored in the unseen-device validation when they make peaks.
NEVER_CLASSIFIED = frozenset({"tvsAndMonitors", "entertainmentAndComputers"})
# Bands of the reliability table: (low, high), a probability p falls in low <= p < high.
RELIABILITY_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 0.1),
    (0.1, 0.25),
    (0.25, 0.5),
    (0.5, 0.6),
    (0.6, 0.7),
    (0.7, 0.8),
    (0.8, 0.9),
    (0.9, 1.0001),
)
# The seeds of the single household-days and of the unseen-device evaluation days lie this far
# above `TrainingConfig.seed`, so no two sets ever share a household.
SINGLE_DAY_SEED_OFFSET = 100_000
EVALUATION_SEED_OFFSET = 500_000
CALIBRATION_SEED_OFFSET = 700_000

# Rarer appliances run more often than in DEFAULT_ACTIVITIES so that each category has enough
# peaks; the hours stay plausible.
TRAINING_ACTIVITIES: tuple[Activity, ...] = tuple(
    Activity(
        a.category,
        max(a.mean_runs_per_day, {"kettle": 2.0, "coffeeMachine": 1.2}.get(a.category, 1.0)),
        a.hours,
        a.duration_scale,
    )
    for a in DEFAULT_ACTIVITIES
)


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides the model. `households` simulated households of `days` evaluated
    days each (plus one day of reference before; household i has seed `seed` + i) and
    `single_days` household-days on their own (own reference, seeds from `seed` +
    SINGLE_DAY_SEED_OFFSET); `evaluation_days` fresh household-days per fold of the
    unseen-device validation."""

    seed: int = 20241
    households: int = 40
    days: int = 4
    single_days: int = 560
    evaluation_days: int = 80
    # Fresh household-days the calibration maps are fitted on: per fold of the unseen-device
    # validation (devices of that fold's training region) and, times `folds`, for the final
    # model (devices of the whole ranges).
    calibration_days: int = 80
    evaluation_min_support: int = 10
    device_spread: bool = True
    more_unlabelled: bool = True
    # Programmes (antgen paths) to leave out of training altogether, for tests that check the
    # model on them; empty in production.
    excluded_programmes: tuple[str, ...] = ()
    activity_scale: tuple[float, float] = (0.6, 1.6)
    overlap_probability: float = 0.15
    label_share: float = 0.25
    source_share: float = 0.0
    min_positives: int = 25
    folds: int = 3
    max_iter: int = 100
    learning_rate: float = 0.08
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 8
    l2_regularization: float = 1.0
    # Share of the features each split may choose from: keeps the trees from leaning on one
    # absolute power level, which does not carry over to other devices.
    max_features: float = 0.5
    threshold: float = 0.5
    # Calibration counts a wrong peak of the calibration days this many times
    # (`calibrators_fit`): a margin for devices and programmes further from the training ones
    # than the calibration days' (docs/classifier.md, "Calibration"). Lower weights give a
    # higher unseen-device macro-F1 but break the promise that suggestions are right at least
    # half the time: with 3.0 a kettle programme held out of training was suggested 15 times
    # and right 6 times (`test_classifier_calibration.py`), with 4.0 12 times and right 6.
    calibration_negative_weight: float = 4.0
    # Variation of one device's runs (the simulator's defaults); the variation between devices
    # is `device_spread` (simulation.households.DEVICE_SPREAD).
    power_jitter: float = 0.05
    duration_jitter: float = 0.1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def household_config(self, region: DeviceRegion | None = None) -> HouseholdConfig:
        if self.excluded_programmes:
            region = region or DeviceRegion()
            region = replace(region, excluded=region.excluded | frozenset(self.excluded_programmes))
        return HouseholdConfig(
            activities=TRAINING_ACTIVITIES,
            power_jitter=self.power_jitter,
            duration_jitter=self.duration_jitter,
            device_spread=self.device_spread,
            device_region=region,
            activity_scale=self.activity_scale,
            overlap_probability=self.overlap_probability,
            more_unlabelled=self.more_unlabelled,
        )


@dataclass
class PeakDataset:
    """Peaks found in the simulated households: features (n x len(FEATURE_NAMES)), the energy
    share per category (n x len(categories)), the programmes that put any energy into each
    peak, the devices (category, power and duration position) that did, and the household
    index."""

    features: npt.NDArray[np.float64]
    shares: npt.NDArray[np.float64]
    categories: tuple[str, ...]
    sources: list[frozenset[str]]
    households: npt.NDArray[np.int64]
    runs_by_category: dict[str, int] = field(default_factory=dict)
    devices: list[frozenset[tuple[str, float, float]]] = field(default_factory=list)

    def labels(self, share: float) -> npt.NDArray[np.bool_]:
        return self.shares >= share

    def __len__(self) -> int:
        return int(self.features.shape[0])


def _contributions(
    household: SimulatedHousehold, peak: DetectedSequence, categories: Sequence[str]
) -> tuple[npt.NDArray[np.float64], frozenset[str], frozenset[tuple[str, float, float]]]:
    """Energy share of each category among all loads in the peak, the programmes present and
    the devices present (category, power and duration position)."""
    start = round((peak.start - household.start).total_seconds())
    end = round((peak.end - household.start).total_seconds())
    energy = dict.fromkeys(categories, 0.0)
    total = 0.0
    sources: set[str] = set()
    parts: dict[tuple[str, float, float], float] = {}
    for run in household.runs:
        offset = round((run.start - household.start).total_seconds())
        power = run.power_w
        if power is None or offset >= end or offset + power.size <= start:
            continue
        part = float(power[max(start - offset, 0) : end - offset].sum())
        if part <= 0:
            continue
        total += part
        sources.add(run.source)
        if run.category is not None and run.device_position is not None:
            key = (run.category, *run.device_position)
            parts[key] = parts.get(key, 0.0) + part
        if run.category in energy:
            energy[run.category] += part
    shares = np.array([energy[c] / total if total else 0.0 for c in categories])
    # Devices that put at least a tenth of the loads' energy into the peak.
    devices = frozenset(key for key, part in parts.items() if total and part >= 0.1 * total)
    return shares, frozenset(sources), devices


def household_dataset(
    household: SimulatedHousehold,
    categories: Sequence[str],
    *,
    evaluate_from: datetime | None = None,
) -> PeakDataset:
    """The peaks the production detector finds in one simulated household, with their features
    and true energy shares (training's labelling)."""
    rows = _Rows()
    rows.add_household(household, 0, categories, evaluate_from)
    return rows.dataset(categories, {})


def training_household_config(config: TrainingConfig) -> HouseholdConfig:
    return config.household_config()


@dataclass
class _Rows:
    features: list[npt.NDArray[np.float64]] = field(default_factory=list)
    shares: list[npt.NDArray[np.float64]] = field(default_factory=list)
    sources: list[frozenset[str]] = field(default_factory=list)
    devices: list[frozenset[tuple[str, float, float]]] = field(default_factory=list)
    households: list[int] = field(default_factory=list)

    def add_household(
        self,
        household: SimulatedHousehold,
        index: int,
        categories: Sequence[str],
        evaluate_from: datetime | None,
    ) -> None:
        """The peaks of `household` (from `evaluate_from` on) with their features and truth."""
        peaks = history_peaks(
            household.timestamps_ns, household.consumption_kwh, evaluate_from=evaluate_from
        )
        for peak in peaks:
            if evaluate_from is not None and peak.end <= evaluate_from:
                continue
            series = intervals_from_readings(
                household.timestamps_ns,
                household.consumption_kwh,
                start_ns=instant_ns(peak.start),
                end_ns=instant_ns(peak.end),
                max_gap_s=DEFAULT_CONFIG.max_reading_gap_s,
            )
            if series.power_w.size == 0:
                continue
            context = context_from_readings(
                household.timestamps_ns,
                household.consumption_kwh,
                start_ns=instant_ns(peak.start),
                max_gap_s=DEFAULT_CONFIG.max_reading_gap_s,
            )
            share, present, devices = _contributions(household, peak, categories)
            self.features.append(peak_features(series, context))
            self.shares.append(share)
            self.sources.append(present)
            self.devices.append(devices)
            self.households.append(index)

    def dataset(self, categories: Sequence[str], runs: dict[str, int]) -> PeakDataset:
        return PeakDataset(
            features=np.vstack(self.features)
            if self.features
            else np.zeros((0, len(FEATURE_NAMES))),
            shares=np.vstack(self.shares) if self.shares else np.zeros((0, len(categories))),
            categories=tuple(categories),
            sources=self.sources,
            households=np.asarray(self.households, dtype=np.int64),
            runs_by_category=runs,
            devices=self.devices,
        )


def peak_dataset_build(
    config: TrainingConfig,
    *,
    categories: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> PeakDataset:
    """Simulate the households and collect every peak of their evaluated days: the multi-day
    households' after their first day (production windows), the single days' whole."""
    rows = _Rows()
    runs_by_category: dict[str, int] = dict.fromkeys(categories, 0)
    household_config = config.household_config()
    plan = [(config.seed + i, config.days + 1, True) for i in range(config.households)]
    plan += [
        (config.seed + SINGLE_DAY_SEED_OFFSET + j, 1, False) for j in range(config.single_days)
    ]
    for index, (seed, days, windowed) in enumerate(plan):
        household = simulate_household(FIRST_DAY, days, seed, household_config)
        evaluate_from = household.start + timedelta(days=1) if windowed else None
        for run in household.runs:
            if run.category in runs_by_category and (
                evaluate_from is None or run.start >= evaluate_from
            ):
                runs_by_category[run.category] += 1
        rows.add_household(household, index, categories, evaluate_from)
        if progress is not None:
            progress(1)
    return rows.dataset(categories, runs_by_category)


def _estimator(config: TrainingConfig, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        max_features=config.max_features,
        early_stopping=False,
        random_state=seed,
    )


@dataclass
class PeakClassifier:
    """One binary estimator per category; `predict_proba` gives P(category contributes), mapped
    through the category's calibrator when it has one (`raw_proba` without)."""

    categories: tuple[str, ...]
    feature_names: tuple[str, ...]
    estimators: dict[str, HistGradientBoostingClassifier]
    calibrators: dict[str, Calibrator] = field(default_factory=dict)
    # The maps for peaks whose context is unknown (`/api/v1/ml`): fitted on the same
    # calibration peaks with their context features removed.
    calibrators_without_context: dict[str, Calibrator] = field(default_factory=dict)

    def raw_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Uncalibrated probabilities, n x len(categories), for n x len(feature_names)."""
        matrix = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if matrix.shape[1] != len(self.feature_names):
            raise ValueError("feature matrix does not match the model's features")
        columns = []
        for category in self.categories:
            estimator = self.estimators[category]
            proba = estimator.predict_proba(matrix)
            positive = list(estimator.classes_).index(True) if True in estimator.classes_ else -1
            columns.append(proba[:, positive] if positive >= 0 else np.zeros(matrix.shape[0]))
        return np.column_stack(columns) if columns else np.zeros((matrix.shape[0], 0))

    def predict_proba(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities, n x len(categories), for n x len(feature_names)."""
        matrix = np.atleast_2d(np.asarray(features, dtype=np.float64))
        return self.calibrated(self.raw_proba(matrix), matrix)

    def calibrated(
        self, raw: npt.NDArray[np.float64], features: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """`raw` (the raw probabilities of the peaks of `features`) through the calibration maps:
        a peak without context through `calibrators_without_context`."""
        unknown = context_unknown(features)
        out = calibrate(raw, self.categories, self.calibrators)
        if self.calibrators_without_context and unknown.any():
            out[unknown] = calibrate(
                raw[unknown], self.categories, self.calibrators_without_context
            )
        return out


@dataclass
class Calibrator:
    """A category's map from raw to calibrated probability: increasing (isotonic) maps, each
    from the model's raw scores on a set of calibration peaks to the share that really were the
    category; with several maps the calibrated probability is the smallest of them
    (docs/classifier.md, "Calibration"). The trained models have one, from their own
    calibration days (`calibrators_from_days`)."""

    maps: list[IsotonicRegression]

    def predict(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not self.maps:
            return np.asarray(raw, dtype=np.float64)
        values = np.min([m.predict(raw) for m in self.maps], axis=0)
        return np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)


def calibrate(
    raw: npt.NDArray[np.float64],
    categories: Sequence[str],
    calibrators: dict[str, Calibrator],
) -> npt.NDArray[np.float64]:
    """Each column of `raw` through its category's calibrator (unchanged without one)."""
    out = np.array(raw, dtype=np.float64, copy=True)
    for j, category in enumerate(categories):
        calibrator = calibrators.get(category)
        if calibrator is not None and out.shape[0]:
            out[:, j] = calibrator.predict(out[:, j])
    return out


def calibrators_fit(
    folds: Sequence[tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]],
    categories: Sequence[str],
    *,
    negative_weight: float = 1.0,
) -> dict[str, Calibrator]:
    """Per category, one isotonic map per (raw scores, truth) fold (deterministic). A fold
    without a single peak of the category gives the map to 0: the model never suggests what it
    could not be checked on. With `negative_weight` w > 1 a wrong peak counts w times, so a
    mapped 0.5 needs w right peaks per wrong one on the fold: a margin for devices further
    away than the folds'."""
    calibrators = {}
    for j, category in enumerate(categories):
        maps = []
        for raw, truth in folds:
            isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            if raw.shape[0]:
                weights = np.where(truth[:, j], 1.0, negative_weight)
                isotonic.fit(raw[:, j], truth[:, j].astype(np.float64), sample_weight=weights)
            else:
                isotonic.fit([0.0, 1.0], [0.0, 0.0])
            maps.append(isotonic)
        calibrators[category] = Calibrator(maps)
    return calibrators


def _fit(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.bool_],
    categories: Sequence[str],
    config: TrainingConfig,
) -> PeakClassifier:
    estimators = {}
    for j, category in enumerate(categories):
        estimator = _estimator(config, config.seed + j)
        estimator.fit(features, labels[:, j])
        estimators[category] = estimator
    return PeakClassifier(tuple(categories), FEATURE_NAMES, estimators)


def _metrics(
    truth: npt.NDArray[np.bool_], predicted: npt.NDArray[np.bool_]
) -> dict[str, float | int | None]:
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {
        "support": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _scores(
    truth: npt.NDArray[np.bool_],
    proba: npt.NDArray[np.float64],
    tested: npt.NDArray[np.bool_],
    categories: Sequence[str],
    evaluable: Sequence[str],
    threshold: float,
) -> dict[str, Any]:
    per_category = {}
    for j, category in enumerate(categories):
        metrics = _metrics(truth[tested, j], proba[tested, j] >= threshold)
        metrics["held_out"] = category in evaluable
        per_category[category] = metrics
    f1s = [per_category[c]["f1"] for c in evaluable]
    known = [float(f) for f in f1s if f is not None]
    return {
        "tested_peaks": int(np.count_nonzero(tested)),
        "per_category": per_category,
        "macro_f1": float(np.mean(known)) if known else None,
        "macro_f1_categories": list(evaluable),
    }


def _programmes(dataset: PeakDataset, labels: npt.NDArray[np.bool_]) -> dict[str, list[str]]:
    """Per category, the programmes (antgen paths of that category) seen in its peaks."""
    found: dict[str, set[str]] = {c: set() for c in dataset.categories}
    for i, present in enumerate(dataset.sources):
        for j, category in enumerate(dataset.categories):
            if labels[i, j]:
                found[category].update(p for p in present if _category_of(p) == category)
    return {c: sorted(paths) for c, paths in found.items()}


def _category_of(path: str) -> str | None:
    from simulation.appliances import CATEGORY_BY_ANTGEN_TYPE

    return CATEGORY_BY_ANTGEN_TYPE.get(path.split("/", 1)[0])


def validate_held_out_programmes(dataset: PeakDataset, config: TrainingConfig) -> dict[str, Any]:
    """Per-category precision/recall/F1 on programmes the model never saw (see module doc)."""
    labels = dataset.labels(config.label_share)
    programmes = _programmes(dataset, labels)
    evaluable = [c for c in dataset.categories if len(programmes[c]) >= 2]
    fold_of: dict[str, int] = {}
    for category in evaluable:
        for k, path in enumerate(programmes[category]):
            fold_of[path] = k % config.folds
    proba = np.zeros(labels.shape, dtype=np.float64)
    tested = np.zeros(len(dataset), dtype=bool)
    folds_report = []
    for fold in range(config.folds):
        held = {p for p, f in fold_of.items() if f == fold}
        if not held:
            continue
        touches = np.array([bool(present & held) for present in dataset.sources], dtype=bool)
        unlabelled = ~labels.any(axis=1) & (dataset.households % config.folds == fold)
        test = (touches | unlabelled) & ~tested
        train = ~touches & ~unlabelled
        model = _fit(dataset.features[train], labels[train], dataset.categories, config)
        if test.any():
            proba[test] = model.predict_proba(dataset.features[test])
        tested |= test
        folds_report.append(
            {
                "fold": fold,
                "held_out": sorted(held),
                "train": int(train.sum()),
                "test": int(test.sum()),
            }
        )
    report = _scores(labels, proba, tested, dataset.categories, evaluable, config.threshold)
    report["folds"] = folds_report
    report["programmes"] = programmes
    return report


def validate_held_out_households(dataset: PeakDataset, config: TrainingConfig) -> dict[str, Any]:
    """The same metrics with whole households held out: the devices are seen in training, so
    this is the optimistic figure that the held-out-programme one is compared with."""
    labels = dataset.labels(config.label_share)
    proba = np.zeros(labels.shape, dtype=np.float64)
    for fold in range(config.folds):
        test = dataset.households % config.folds == fold
        if test.all() or not test.any():
            continue
        model = _fit(dataset.features[~test], labels[~test], dataset.categories, config)
        proba[test] = model.predict_proba(dataset.features[test])
    tested = np.ones(len(dataset), dtype=bool)
    return _scores(
        labels, proba, tested, dataset.categories, list(dataset.categories), config.threshold
    )


def classified_categories(dataset: PeakDataset, config: TrainingConfig) -> tuple[str, ...]:
    """Categories with at least `min_positives` labelled peaks, in dataset order."""
    counts = dataset.labels(config.label_share).sum(axis=0)
    return tuple(
        c
        for c, n in zip(dataset.categories, counts, strict=True)
        if n >= config.min_positives and c not in NEVER_CLASSIFIED
    )


def dataset_restrict(dataset: PeakDataset, categories: Sequence[str]) -> PeakDataset:
    columns = [dataset.categories.index(c) for c in categories]
    return PeakDataset(
        features=dataset.features,
        shares=dataset.shares[:, columns],
        categories=tuple(categories),
        sources=dataset.sources,
        households=dataset.households,
        runs_by_category={c: dataset.runs_by_category.get(c, 0) for c in categories},
        devices=dataset.devices,
    )


def _fold_programmes(programmes: dict[str, list[str]], folds: int) -> list[frozenset[str]]:
    """The programmes held out in each fold: those of every category with at least two,
    dealt round-robin in sorted order (as `validate_held_out_programmes` does)."""
    held: list[set[str]] = [set() for _ in range(folds)]
    for paths in programmes.values():
        if len(paths) >= 2:
            for k, path in enumerate(paths):
                held[k % folds].add(path)
    return [frozenset(h) for h in held]


def fold_span(fold: int, folds: int) -> str:
    """Where fold `fold`'s tested devices lie against its training devices: "inside" for an
    inner third, which has training devices on both sides in power and in cycle length (as a
    new household's device inside the simulated ranges has for the final model), "beyond" for
    an outer third, more powerful and longer (or weaker and shorter) than any training device."""
    return "inside" if 0 < fold < folds - 1 else "beyond"


def _third(position: float, folds: int) -> int:
    return min(int(position * folds), folds - 1)


def _bands(
    proba: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_]
) -> list[dict[str, float | int | None]]:
    """Reliability: per probability band, the (peak, category) pairs in it, how many were
    right, their mean probability and the share right."""
    rows: list[dict[str, float | int | None]] = []
    for low, high in RELIABILITY_BANDS:
        inside = (proba >= low) & (proba < high)
        count = int(np.count_nonzero(inside))
        right = int(np.count_nonzero(inside & truth))
        rows.append(
            {
                "low": low,
                "high": min(high, 1.0),
                "count": count,
                "right": right,
                "mean_probability": float(proba[inside].mean()) if count else None,
                "share_right": right / count if count else None,
            }
        )
    return rows


def _unseen_scores(
    truth: npt.NDArray[np.bool_],
    proba: npt.NDArray[np.float64],
    candidates: Sequence[str],
    classes: Sequence[str],
    config: TrainingConfig,
) -> dict[str, Any]:
    """Per candidate category (those with true peaks), P/R/F1 at the threshold; a category the
    model has no class for is never predicted. Macro-F1 over the categories with at least
    `evaluation_min_support` true peaks."""
    per_category: dict[str, Any] = {}
    for j, category in enumerate(candidates):
        support = int(np.count_nonzero(truth[:, j]))
        predicted = (
            proba[:, classes.index(category)] >= config.threshold
            if category in classes
            else np.zeros(truth.shape[0], dtype=bool)
        )
        if support == 0 and not predicted.any():
            continue
        metrics = _metrics(truth[:, j], predicted)
        metrics["classified"] = category in classes
        metrics["in_macro"] = support >= config.evaluation_min_support
        per_category[category] = metrics
    in_macro = [c for c, m in per_category.items() if m["in_macro"]]
    f1s = [float(per_category[c]["f1"] or 0.0) for c in in_macro]
    return {
        "per_category": per_category,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "macro_f1_categories": in_macro,
    }


def _simulated_dataset(
    days: Sequence[tuple[int, HouseholdConfig]],
    candidates: Sequence[str],
    progress: Callable[[int], None] | None,
) -> PeakDataset:
    """The peaks of fresh single household-days (seed, configuration), each detected with its
    own readings as reference, as `classify_readings` sees them."""
    rows = _Rows()
    for j, (seed, household_config) in enumerate(days):
        household = simulate_household(FIRST_DAY, 1, seed, household_config)
        rows.add_household(household, j, candidates, None)
        if progress is not None:
            progress(1)
    return rows.dataset(candidates, {})


def calibration_day_plan(
    config: TrainingConfig, fold: int | None = None, held: frozenset[str] = frozenset()
) -> list[tuple[int, HouseholdConfig]]:
    """The fresh household-days the calibration maps are fitted on. For the final model
    (`fold` None): `calibration_days` x `folds` days of devices anywhere in their ranges. For
    fold f of the unseen-device validation: `calibration_days` days whose devices lie in that
    fold's training region (power and length positions outside the f-th third, dealt over the
    other thirds) and never run the fold's `held` programmes."""
    base = config.seed + CALIBRATION_SEED_OFFSET
    if fold is None:
        household_config = config.household_config()
        count = config.calibration_days * config.folds
        return [(base + config.folds * 10_000 + j, household_config) for j in range(count)]
    others = [k for k in range(config.folds) if k != fold]
    days = []
    for j in range(config.calibration_days):
        power = others[j % len(others)]
        duration = others[(j // len(others)) % len(others)]
        region = DeviceRegion(
            power=(power / config.folds, (power + 1) / config.folds),
            duration=(duration / config.folds, (duration + 1) / config.folds),
            excluded=held,
        )
        days.append((base + fold * 10_000 + j, config.household_config(region)))
    return days


def calibrators_from_days(
    model: PeakClassifier,
    days: Sequence[tuple[int, HouseholdConfig]],
    candidates: Sequence[str],
    config: TrainingConfig,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Fit `model`'s calibration maps on its own raw scores over the peaks of `days`: one set
    for the peaks as the meter gives them, one for the same peaks without their context."""
    calibration = _simulated_dataset(days, candidates, progress)
    columns = [list(candidates).index(c) for c in model.categories]
    truth = calibration.labels(config.label_share)[:, columns]

    def maps(features: npt.NDArray[np.float64]) -> dict[str, Calibrator]:
        raw = (
            model.raw_proba(features) if len(calibration) else np.zeros((0, len(model.categories)))
        )
        return calibrators_fit(
            [(raw, truth)], model.categories, negative_weight=config.calibration_negative_weight
        )

    model.calibrators = maps(calibration.features)
    model.calibrators_without_context = maps(without_context(calibration.features))


def validate_unseen_devices(
    dataset: PeakDataset,
    config: TrainingConfig,
    *,
    candidates: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The "synthetic other device" validation of the whole pipeline (module doc); each fold's
    model is calibrated as the final model is, on fresh days of devices like its training ones
    (`calibration_days`)."""
    labels = dataset.labels(config.label_share)
    classes = list(dataset.categories)
    held = _fold_programmes(_programmes(dataset, labels), config.folds)
    raws: list[npt.NDArray[np.float64]] = []
    calibrated: list[npt.NDArray[np.float64]] = []
    truths: list[npt.NDArray[np.bool_]] = []
    raws_alone: list[npt.NDArray[np.float64]] = []
    calibrated_alone: list[npt.NDArray[np.float64]] = []
    folds_report = []
    for fold in range(config.folds):
        near = np.array(
            [
                any(
                    _third(p, config.folds) == fold or _third(d, config.folds) == fold
                    for _, p, d in devices
                )
                for devices in dataset.devices
            ],
            dtype=bool,
        )
        touches = np.array([bool(present & held[fold]) for present in dataset.sources], dtype=bool)
        train = ~near & ~touches
        if not train.any():
            raise ValueError("the unseen-device validation needs devices spread over their ranges")
        model = _fit(dataset.features[train], labels[train], classes, config)
        calibrators_from_days(
            model, calibration_day_plan(config, fold, held[fold]), candidates, config, progress
        )
        third = (fold / config.folds, (fold + 1) / config.folds)
        region = DeviceRegion(power=third, duration=third, programmes=held[fold] or None)
        household_config = config.household_config(region)
        evaluation = _simulated_dataset(
            [
                (config.seed + EVALUATION_SEED_OFFSET + fold * 10_000 + j, household_config)
                for j in range(config.evaluation_days)
            ],
            candidates,
            progress,
        )
        empty = np.zeros((0, len(classes)))
        raw = model.raw_proba(evaluation.features) if len(evaluation) else empty
        fold_calibrated = model.calibrated(raw, evaluation.features)
        fold_truth = evaluation.labels(config.label_share)
        raws.append(raw)
        calibrated.append(fold_calibrated)
        truths.append(fold_truth)
        # The same peaks as `/api/v1/ml` sees them, without their context.
        peaks_alone = without_context(evaluation.features)
        raw_alone = model.raw_proba(peaks_alone) if len(evaluation) else empty
        raws_alone.append(raw_alone)
        calibrated_alone.append(model.calibrated(raw_alone, peaks_alone))
        folds_report.append(
            {
                "fold": fold,
                "held_out_programmes": sorted(held[fold]),
                "device_positions": list(third),
                "tested_devices": fold_span(fold, config.folds),
                "train": int(train.sum()),
                "calibration_days": config.calibration_days,
                "evaluation_days": config.evaluation_days,
                "test": len(evaluation),
                "macro_f1": _unseen_scores(
                    fold_truth, fold_calibrated, candidates, classes, config
                )["macro_f1"],
                "uncalibrated_macro_f1": _unseen_scores(
                    fold_truth, raw, candidates, classes, config
                )["macro_f1"],
            }
        )
    class_columns = [list(candidates).index(c) for c in classes]
    raw_all = np.vstack(raws)
    truth_all = np.vstack(truths)
    proba = np.vstack(calibrated)
    report = _unseen_scores(truth_all, proba, candidates, classes, config)
    uncalibrated = _unseen_scores(truth_all, raw_all, candidates, classes, config)
    report["uncalibrated_macro_f1"] = uncalibrated["macro_f1"]
    scores_alone = _unseen_scores(
        truth_all, np.vstack(calibrated_alone), candidates, classes, config
    )
    scores_alone["uncalibrated_macro_f1"] = _unseen_scores(
        truth_all, np.vstack(raws_alone), candidates, classes, config
    )["macro_f1"]
    report["without_context"] = scores_alone
    report["tested_peaks"] = int(truth_all.shape[0])
    report["peaks_with_a_true_cause"] = int(np.count_nonzero(truth_all.any(axis=1)))
    shown = proba >= config.threshold
    report["peaks_abstained"] = int(np.count_nonzero(~shown.any(axis=1)))
    class_truth = truth_all[:, class_columns]
    report["reliability"] = _bands(proba, class_truth)
    report["reliability_uncalibrated"] = _bands(raw_all, class_truth)
    report["folds"] = folds_report
    return report


def classifier_train(
    dataset: PeakDataset,
    config: TrainingConfig,
    *,
    candidates: Sequence[str] | None = None,
    compare: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[PeakClassifier, dict[str, Any]]:
    """Validate on unseen devices (and, with `compare`, on held-out programmes and households
    too), then fit the final model on every peak and attach the calibrators from the
    unseen-device validation. Returns the model and the report."""
    labels = dataset.labels(config.label_share)
    began = time.perf_counter()
    candidates = candidates if candidates is not None else dataset.categories
    unseen = validate_unseen_devices(dataset, config, candidates=candidates, progress=progress)
    report = {
        "peaks": len(dataset),
        "household_days": config.households * config.days + config.single_days,
        "positives": {
            c: int(n) for c, n in zip(dataset.categories, labels.sum(axis=0), strict=True)
        },
        "peaks_without_category": int(np.count_nonzero(~labels.any(axis=1))),
        "unseen_devices": unseen,
    }
    seconds = {"unseen_device_validation": time.perf_counter() - began}
    if compare:
        began = time.perf_counter()
        report["held_out_programmes"] = validate_held_out_programmes(dataset, config)
        report["held_out_households"] = validate_held_out_households(dataset, config)
        seconds["comparison_validations"] = time.perf_counter() - began
    began = time.perf_counter()
    model = _fit(dataset.features, labels, dataset.categories, config)
    seconds["final_fit"] = time.perf_counter() - began
    began = time.perf_counter()
    calibrators_from_days(model, calibration_day_plan(config), candidates, config, progress)
    seconds["calibration"] = time.perf_counter() - began
    report["seconds_by_step"] = {key: round(value, 2) for key, value in seconds.items()}
    return model, report
