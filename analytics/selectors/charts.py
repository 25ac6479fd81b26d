"""The data of the back office's charts (drawn by analytics.compute.charts): a household's recent
days and quarter hours with its peaks, a peak's device suggestions, the fleet's daily coverage.

Each reads a fixed number of queries whatever the number of days, buckets, peaks or sensors.
Times are UTC; the household's zone comes along for the axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from energyleaf.users.selectors import household_time_zone
from sensors.models import Sensor
from sensors.selectors.assignments import household_periods

from ..models import ConsumptionRollup, DeviceCategory, DevicePeak, DeviceSuggestion, Sequence
from ..services.rollups import BUCKET, bucket_floor
from .aggregates import household_daily_consumption
from .fleet import READING_INTERVAL

HOUSEHOLD_CHART_DAYS = 14
HOUSEHOLD_CHART_HOURS = timedelta(hours=24)
FLEET_CHART_DAYS = 7


@dataclass(frozen=True)
class HouseholdDay:
    """A local day of the household and its consumption in kWh; `partial` for today."""

    day: date
    kwh: Decimal
    partial: bool


@dataclass(frozen=True)
class HouseholdConsumptionChart:
    """A household's electricity consumption: the last HOUSEHOLD_CHART_DAYS local days (today
    included, so far), and per 15-minute rollup bucket over [window_start, window_end) (the last
    24 hours of complete buckets) with the peaks detected in it. `has_sensor` is False when the
    household never held an electricity sensor (then everything else is empty)."""

    zone: ZoneInfo
    has_sensor: bool
    days: list[HouseholdDay]
    window_start: datetime
    window_end: datetime
    quarter_hours: dict[datetime, Decimal]
    peaks: list[tuple[datetime, datetime]]


def household_consumption_chart(
    *, user_id: int, now: datetime | None = None
) -> HouseholdConsumptionChart:
    """The household's consumption chart data (see HouseholdConsumptionChart), in at most six
    queries: zone, periods, daily sums (two), quarter hours, peaks."""
    now = now or timezone.now()
    zone = household_time_zone(user_id=user_id)
    window_end = bucket_floor(now)
    window_start = window_end - HOUSEHOLD_CHART_HOURS
    empty = HouseholdConsumptionChart(
        zone=zone,
        has_sensor=False,
        days=[],
        window_start=window_start,
        window_end=window_end,
        quarter_hours={},
        peaks=[],
    )
    periods = household_periods(user_id=user_id, sensor_type=Sensor.SensorType.ELECTRICITY)
    if not periods:
        return empty
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=HOUSEHOLD_CHART_DAYS - 1)
    daily = household_daily_consumption(
        household_key=user_id,
        periods=periods,
        first_day=first_day,
        last_day=today,
        time_zone=zone.key,
    )
    days = [
        HouseholdDay(
            day=first_day + timedelta(days=i), kwh=kwh, partial=i == len(daily.days_kwh) - 1
        )
        for i, kwh in enumerate(daily.days_kwh)
    ]
    sensor_ids = sorted({period.sensor_id for period in periods})
    rows = (
        ConsumptionRollup.objects.filter(
            sensor_id__in=sensor_ids,
            household_key=user_id,
            bucket_start__gte=window_start,
            bucket_start__lt=window_end,
        )
        .values("bucket_start")
        .annotate(total=Sum("consumption"))
        .order_by()
        .values_list("bucket_start", "total")
    )
    quarter_hours = {bucket.astimezone(UTC): Decimal(total) for bucket, total in rows}
    peaks = list(
        Sequence.objects.filter(
            sensor_id__in=sensor_ids,
            household_key=user_id,
            kind=Sequence.Kind.PEAK,
            start__lt=window_end,
            end__gt=window_start,
        )
        .order_by("start")
        .values_list("start", "end")
    )
    return HouseholdConsumptionChart(
        zone=zone,
        has_sensor=True,
        days=days,
        window_start=window_start,
        window_end=window_end,
        quarter_hours=quarter_hours,
        peaks=peaks,
    )


@dataclass(frozen=True)
class SuggestionShown:
    """A category the classifier suggested for a peak (its label), its probability, and whether
    the household confirmed a device of that category for the peak."""

    category: str
    label: str
    probability: float
    confirmed: bool


@dataclass(frozen=True)
class PeakSuggestions:
    """The suggestions of the newest model version that made any for the peak."""

    model_version: str | None
    suggestions: list[SuggestionShown]


def peak_suggestions(*, sequence_id: int) -> PeakSuggestions:
    """The peak's newest suggestions with the categories its household confirmed, in two
    queries."""
    rows = list(
        DeviceSuggestion.objects.filter(sequence_id=sequence_id)
        .order_by("-created_at", "-pk")
        .values_list("model_version", "category", "probability")
    )
    if not rows:
        return PeakSuggestions(model_version=None, suggestions=[])
    newest = rows[0][0]
    confirmed = set(
        DevicePeak.objects.filter(sequence_id=sequence_id).values_list(
            "device__category", flat=True
        )
    )
    labels = dict(DeviceCategory.choices)
    seen: set[str] = set()
    suggestions = []
    for version, category, probability in rows:
        if version != newest or category in seen:
            continue
        seen.add(category)
        suggestions.append(
            SuggestionShown(
                category=category,
                label=str(labels.get(category, category)),
                probability=probability,
                confirmed=category in confirmed,
            )
        )
    suggestions.sort(key=lambda s: (-s.probability, s.category))
    return PeakSuggestions(model_version=newest, suggestions=suggestions)


@dataclass(frozen=True)
class FleetCoverage:
    """Per sensor id, the share of expected readings (one per READING_INTERVAL) received per UTC
    day of `days`, from the rollups; today counts only its complete 15-minute buckets, a day
    with none yet is None. Sensors without any rollup in the days are missing from `shares`."""

    days: list[date]
    expected: list[float | None]
    shares: dict[int, list[float | None]]

    def of(self, sensor_id: int) -> list[float | None]:
        """The sensor's shares (0 for the days that have begun when it sent nothing)."""
        return self.shares.get(sensor_id) or [None if e is None else 0.0 for e in self.expected]


def fleet_daily_coverage(*, now: datetime | None = None) -> FleetCoverage:
    """Share of expected readings per sensor and UTC day over the last FLEET_CHART_DAYS days
    (today included), in one query (rollup readings grouped by sensor and day)."""
    now = now or timezone.now()
    window_end = bucket_floor(now)
    today = window_end.date() if window_end.time() else (window_end - BUCKET).date()
    days = [today - timedelta(days=FLEET_CHART_DAYS - 1 - i) for i in range(FLEET_CHART_DAYS)]
    starts = [datetime(day.year, day.month, day.day, tzinfo=UTC) for day in days]
    expected: list[float | None] = []
    for start in starts:
        covered = min(start + timedelta(days=1), window_end) - start
        expected.append(covered / READING_INTERVAL if covered > timedelta() else None)
    index_of = {day: i for i, day in enumerate(days)}
    shares: dict[int, list[float | None]] = {}
    rows = (
        ConsumptionRollup.objects.filter(bucket_start__gte=starts[0], bucket_start__lt=window_end)
        .annotate(day=TruncDate("bucket_start", tzinfo=UTC))
        .values("sensor_id", "day")
        .annotate(readings=Sum("readings"))
        .order_by()
        .values_list("sensor_id", "day", "readings")
    )
    for sensor_id, day, readings in rows:
        row = shares.setdefault(sensor_id, [None if e is None else 0.0 for e in expected])
        index = index_of.get(day)
        wanted = expected[index] if index is not None else None
        if index is not None and wanted:
            row[index] = min(1.0, (row[index] or 0.0) + (readings or 0) / wanted)
    return FleetCoverage(days=days, expected=expected, shares=shares)
