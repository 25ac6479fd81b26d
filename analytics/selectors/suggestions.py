"""How the classifier's suggestions compare with the devices households confirmed.

Only peaks with at least one confirmed device count (a peak nobody labelled says nothing about
the classifier). A suggestion is "shown" when its probability is at least
`SUGGESTION_MIN_PROBABILITY` (what households see). Per category: correct = shown and confirmed,
wrong = shown but not confirmed, missing = confirmed but not shown; precision = correct /
(correct + wrong), recall = correct / (correct + missing). Calibration per probability band,
over all categories (`bands`) and per category (`category_bands`): how many suggestions fell in
the band, their mean probability (what the model promised) and how many of those were confirmed
(what households found; the precision of the band). A calibrated model's bands confirm about as
often as their mean probability says (docs/classifier.md, "Calibration").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, OuterRef

from ..models import DevicePeak, DeviceSuggestion, Sequence
from .devices import SUGGESTION_MIN_PROBABILITY

BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 0.25),
    (0.25, 0.5),
    (0.5, 0.6),
    (0.6, 0.7),
    (0.7, 0.8),
    (0.8, 0.9),
    (0.9, 1.0001),
)


@dataclass
class CategoryEvaluation:
    category: str
    correct: int = 0
    wrong: int = 0
    missing: int = 0

    @property
    def precision(self) -> float | None:
        shown = self.correct + self.wrong
        return self.correct / shown if shown else None

    @property
    def recall(self) -> float | None:
        confirmed = self.correct + self.missing
        return self.correct / confirmed if confirmed else None


@dataclass
class BandEvaluation:
    low: float
    high: float
    suggestions: int = 0
    confirmed: int = 0
    probability_sum: float = 0.0

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.suggestions if self.suggestions else None

    @property
    def mean_probability(self) -> float | None:
        return self.probability_sum / self.suggestions if self.suggestions else None

    def add(self, probability: float, confirmed: bool) -> None:
        self.suggestions += 1
        self.confirmed += confirmed
        self.probability_sum += probability


@dataclass
class CategoryBands:
    """One category's calibration: its suggestions per probability band."""

    category: str
    bands: list[BandEvaluation] = field(default_factory=list)


@dataclass
class SuggestionEvaluation:
    model_version: str | None
    peaks: int = 0
    categories: list[CategoryEvaluation] = field(default_factory=list)
    bands: list[BandEvaluation] = field(default_factory=list)
    category_bands: list[CategoryBands] = field(default_factory=list)


def suggestion_model_versions() -> list[str]:
    """Model versions that made suggestions, newest first."""
    rows = DeviceSuggestion.objects.values_list("model_version", "created_at").order_by(
        "-created_at"
    )
    seen: dict[str, None] = {}
    for version, _ in rows.iterator(chunk_size=5000):
        seen.setdefault(version, None)
    return list(seen)


def suggestion_evaluation(*, model_version: str | None) -> SuggestionEvaluation:
    """Suggestions of `model_version` against confirmed devices (see the module doc)."""
    result = SuggestionEvaluation(model_version=model_version)
    result.bands = [BandEvaluation(low, high) for low, high in BANDS]
    if model_version is None:
        return result
    confirmed: dict[int, set[str]] = defaultdict(set)
    for sequence_id, category in DevicePeak.objects.values_list(
        "sequence_id", "device__category"
    ).iterator(chunk_size=5000):
        confirmed[sequence_id].add(category)
    by_category: dict[str, CategoryEvaluation] = {}
    bands_by_category: dict[str, CategoryBands] = {}
    shown_by_peak: dict[int, set[str]] = defaultdict(set)
    rows = DeviceSuggestion.objects.filter(
        model_version=model_version, sequence_id__in=list(confirmed)
    ).values_list("sequence_id", "category", "probability")
    for sequence_id, category, probability in rows.iterator(chunk_size=5000):
        evaluation = by_category.setdefault(category, CategoryEvaluation(category))
        is_confirmed = category in confirmed[sequence_id]
        if probability >= SUGGESTION_MIN_PROBABILITY:
            shown_by_peak[sequence_id].add(category)
            if is_confirmed:
                evaluation.correct += 1
            else:
                evaluation.wrong += 1
        own = bands_by_category.setdefault(
            category, CategoryBands(category, [BandEvaluation(low, high) for low, high in BANDS])
        )
        for index, band in enumerate(result.bands):
            if band.low <= probability < band.high:
                band.add(probability, is_confirmed)
                own.bands[index].add(probability, is_confirmed)
                break
    suggested_peaks = set(
        DeviceSuggestion.objects.filter(
            model_version=model_version, sequence_id__in=list(confirmed)
        ).values_list("sequence_id", flat=True)
    )
    for sequence_id in suggested_peaks:
        for category in confirmed[sequence_id] - shown_by_peak[sequence_id]:
            by_category.setdefault(category, CategoryEvaluation(category)).missing += 1
    result.peaks = len(suggested_peaks)
    result.categories = sorted(by_category.values(), key=lambda e: e.category)
    result.category_bands = sorted(bands_by_category.values(), key=lambda e: e.category)
    return result


def peaks_needing_suggestions(*, model_version: str, since: datetime, limit: int) -> list[int]:
    """Ids of peaks starting at or after `since` that have no suggestions of `model_version`
    made since their last change (their task was lost, they grew after it ran, or the model is
    new), oldest first, at most `limit`."""
    fresh = DeviceSuggestion.objects.filter(
        sequence=OuterRef("pk"),
        model_version=model_version,
        created_at__gte=OuterRef("updated_at"),
    )
    return list(
        Sequence.objects.filter(kind=Sequence.Kind.PEAK, start__gte=since)
        .filter(~Exists(fresh))
        .order_by("start", "pk")
        .values_list("pk", flat=True)[:limit]
    )
