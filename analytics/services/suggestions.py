"""Device-category suggestions for peaks from the trained classifier, and training it.

The model is loaded once per process (per model version: a newly trained model is picked up
when `CURRENT` changes) from `ENERGYLEAF_ML_MODEL_DIR`. Without a usable model — none trained,
or a sidecar that does not fit the running code — suggestions are skipped with a warning, never
with an error. Suggestions store every category's probability with the model version; making
them again for a peak (a re-run, or the peak grew by a merge) replaces that peak's suggestions
of that model version. Nothing here assigns a device: households confirm suggestions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import transaction

from analytics.compute.classifier.features import (
    CONTEXT_FLOOR_S,
    PeakContext,
    PowerSeries,
    context_from_readings,
    intervals_from_readings,
    intervals_from_samples,
    peak_features,
)
from analytics.compute.detection import instant_ns
from analytics.compute.sequences import DEFAULT_CONFIG
from analytics.models import DeviceSuggestion, Sequence
from analytics.selectors.detection import sensor_readings_arrays
from analytics.selectors.suggestions import peaks_needing_suggestions
from analytics.tasks import suggest_devices_task
from energyleaf.common.exceptions import ApplicationError
from sensors.selectors.assignments import Period, sensors_periods

if TYPE_CHECKING:
    from analytics.compute.classifier.artefact import LoadedModel
    from analytics.compute.classifier.pipeline import BuildResult
    from analytics.compute.classifier.training import TrainingConfig

# scikit-learn and joblib are imported when a model is first needed, not when a web process
# imports this module.
logger = logging.getLogger(__name__)
MAX_SAMPLES_PER_PEAK = 20_000


class ClassifierUnavailableError(ApplicationError):
    """No usable model (503 at the API)."""

    status_code = 503
    default_code = "classifier_unavailable"


_lock = threading.Lock()
_cache: dict[Path, tuple[str, LoadedModel | None]] = {}


def model_folder() -> Path:
    return Path(settings.ENERGYLEAF_ML_MODEL_DIR)


def classifier_model_get() -> LoadedModel | None:
    """The current model of this process, loaded once per version; None (with one warning per
    version) when there is no usable model."""
    from analytics.compute.classifier.artefact import (
        ModelUnavailableError,
        artefact_load,
        current_version,
    )

    folder = model_folder()
    version = current_version(folder)
    if version is None:
        return None
    with _lock:
        cached = _cache.get(folder)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            model: LoadedModel | None = artefact_load(folder, version)
        except ModelUnavailableError as error:
            logger.warning("peak classifier unavailable, suggestions skipped: %s", error)
            model = None
        _cache[folder] = (version, model)
        return model


def classifier_cache_clear() -> None:
    with _lock:
        _cache.clear()


def classifier_usable_version() -> str | None:
    """The current model's version when its files fit the running code, else None (no model,
    or one of an older format: `train_peak_classifier --if-missing` and the demo then train a
    new one)."""
    from analytics.compute.classifier.artefact import (
        ModelUnavailableError,
        current_version,
        sidecar_problems,
        sidecar_read,
    )

    folder = model_folder()
    version = current_version(folder)
    if version is None:
        return None
    try:
        return None if sidecar_problems(sidecar_read(folder, version)) else version
    except ModelUnavailableError:
        return None


def classifier_train(
    *,
    config: TrainingConfig | None = None,
    compare: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Train, validate and save a model in the configured folder and make it current."""
    from analytics.compute.classifier.pipeline import classifier_build

    result = classifier_build(model_folder(), config, compare=compare, progress=progress)
    classifier_cache_clear()
    return result


def _series_for(sequence: Sequence, periods: SequenceOf[Period]) -> tuple[PowerSeries, PeakContext]:
    """The peak's power series and its context (the hour before it), from the readings of the
    household whose peak it is (`periods`: the sensor's): the context never reaches into a
    previous household's time with the sensor."""
    period = next(
        (
            p
            for p in periods
            if p.household_key == sequence.household_key
            and p.clip(sequence.start, sequence.end) is not None
        ),
        None,
    )
    t_ns, kwh = sensor_readings_arrays(
        sensor_id=sequence.sensor_id,
        start=sequence.start - timedelta(seconds=CONTEXT_FLOOR_S),
        end=sequence.end,
        period=period,
    )
    start_ns = instant_ns(sequence.start)
    series = intervals_from_readings(
        t_ns,
        kwh,
        start_ns=start_ns,
        end_ns=instant_ns(sequence.end),
        max_gap_s=DEFAULT_CONFIG.max_reading_gap_s,
    )
    context = context_from_readings(
        t_ns, kwh, start_ns=start_ns, max_gap_s=DEFAULT_CONFIG.max_reading_gap_s
    )
    return series, context


def suggestions_make(*, sequence_ids: Iterable[int]) -> int:
    """Classify the given peaks and store their suggestions (replacing those of the same model
    version). Anomalies and unknown ids are ignored. Returns how many peaks got suggestions."""
    from analytics.compute.classifier.artefact import probabilities

    model = classifier_model_get()
    if model is None:
        return 0
    peaks = list(
        Sequence.objects.filter(pk__in=list(sequence_ids), kind=Sequence.Kind.PEAK).order_by("pk")
    )
    periods = sensors_periods(sensor_ids={peak.sensor_id for peak in peaks})
    made = 0
    for peak in peaks:
        series, context = _series_for(peak, periods.get(peak.sensor_id, []))
        if series.power_w.size == 0:
            continue
        probs = probabilities(model, peak_features(series, context)[None, :])[0]
        with transaction.atomic():
            DeviceSuggestion.objects.filter(sequence=peak, model_version=model.version).delete()
            DeviceSuggestion.objects.bulk_create(
                DeviceSuggestion(
                    sequence=peak,
                    category=category,
                    probability=probability,
                    model_version=model.version,
                )
                for category, probability in probs.items()
            )
        made += 1
    return made


def suggestions_enqueue(*, sequence_ids: SequenceOf[int]) -> None:
    """Suggest categories for these peaks in a task, once the current transaction commits. A
    broker that is down is logged, not raised (the detection that called this is stored):
    `suggestions_catch_up` sends those peaks later."""
    if sequence_ids:
        ids = sorted(set(sequence_ids))
        transaction.on_commit(lambda: suggest_devices_task.delay(ids), robust=True)


CATCH_UP_HOURS = 48
CATCH_UP_LIMIT = 5000
CATCH_UP_BATCH = 100


def suggestions_catch_up(*, now: datetime) -> int:
    """Enqueue suggestions for the peaks of the last CATCH_UP_HOURS before `now` that lack
    current ones for the current model (`peaks_needing_suggestions`), in tasks of
    CATCH_UP_BATCH peaks. Returns how many peaks were sent; 0 without a model."""
    from analytics.compute.classifier.artefact import current_version

    version = current_version(model_folder())
    if version is None:
        return 0
    ids = peaks_needing_suggestions(
        model_version=version, since=now - timedelta(hours=CATCH_UP_HOURS), limit=CATCH_UP_LIMIT
    )
    for start in range(0, len(ids), CATCH_UP_BATCH):
        suggest_devices_task.delay(ids[start : start + CATCH_UP_BATCH])
    if ids:
        logger.info("suggestions.catch_up model=%s peaks=%d", version, len(ids))
    return len(ids)


@dataclass(frozen=True)
class SampledPeak:
    """A peak given as samples: `id` (echoed back) and (aware instant, power W) pairs."""

    id: str
    samples: SequenceOf[tuple[datetime, float]]


def samples_classify(
    peaks: SequenceOf[SampledPeak],
) -> tuple[list[tuple[str, dict[str, float]]], str]:
    """Probabilities per category for peaks given as power samples (the /api/v1/ml request),
    and the model version that made them.

    Raises ClassifierUnavailableError without a model and ApplicationError (400) for samples that
    are not a usable series."""
    from analytics.compute.classifier.artefact import probabilities

    model = classifier_model_get()
    if model is None:
        raise ClassifierUnavailableError("The peak classifier has not been trained yet.")
    rows = []
    for index, peak in enumerate(peaks):
        if len(peak.samples) > MAX_SAMPLES_PER_PEAK:
            raise ApplicationError(
                f"peaks[{index}] has more than {MAX_SAMPLES_PER_PEAK} samples.",
                code="too_many_samples",
            )
        ordered = sorted(peak.samples, key=lambda sample: sample[0])
        times = np.array([instant_ns(moment) for moment, _ in ordered], dtype=np.int64)
        power = np.array([power for _, power in ordered], dtype=np.float64)
        try:
            series = intervals_from_samples(times, power)
        except ValueError as error:
            raise ApplicationError(f"peaks[{index}]: {error}.", code="invalid_peak") from error
        # The request has the peak alone: its context features are unknown (NaN).
        rows.append(peak_features(series))
    if not rows:
        return [], model.version
    probs = probabilities(model, np.vstack(rows))
    return [(peak.id, p) for peak, p in zip(peaks, probs, strict=True)], model.version
