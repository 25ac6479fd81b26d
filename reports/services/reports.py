"""Writes for consumption reports: settings changes and building a household's report.

Data source: the raw readings (`Reading.consumption`), summed per local day in one query with
exact decimals, rather than the 15-minute rollups. A report covers at most 7 days of one sensor,
the raw sum is cheap on the (sensor, timestamp) index, it needs no `rollups_refresh()` first (the
rollups may be up to 5 minutes behind) and it keeps every figure exact to the Wh and the cent.

Figures (reference §5.3, with its defects fixed): the period is the last `interval_days` full
local days of the household's zone before today (DST days have 23 or 25 hours; D26). Day sums
are over [local midnight, next local midnight). Cost per day = consumption * working price +
base price per month / days of that day's month (the reference ignored the base price, D27);
without a working price there is no cost, without a base price it counts as 0. Totals are summed
unrounded, then rounded half up to 0.001 kWh and 0.01 €; averages are total / number of days.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Q, Sum

from analytics.selectors.aggregates import local_period_bounds
from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import Household, User
from sensors.models import Reading, Sensor

from ..models import Report, ReportDay, ReportSettings
from ..selectors_reports import reports_due

KWH = Decimal("0.001")
EUR = Decimal("0.01")
PERCENT = Decimal("0.01")
_UNSET: Any = object()


@dataclass(frozen=True)
class ReportPeriod:
    """The local days `first_day`..`last_day` and their bounds as aware UTC datetimes
    (`bounds[i]` is the start of day i, `bounds[-1]` the end of the last day)."""

    first_day: date
    last_day: date
    bounds: list[datetime]


def report_period(*, now: datetime, interval_days: int, time_zone: str) -> ReportPeriod:
    """The last `interval_days` full local days before the local day of `now`."""
    zone = ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=interval_days)
    last_day = today - timedelta(days=1)
    # Instants inside the first and the last day; the bounds are the days' local midnights.
    bounds = local_period_bounds(
        start=datetime.combine(first_day, time(12), tzinfo=zone),
        end=datetime.combine(last_day, time(13), tzinfo=zone),
        resolution="day",
        time_zone=time_zone,
    )
    return ReportPeriod(
        first_day=first_day,
        last_day=last_day,
        bounds=[bound.astimezone(UTC) for bound in bounds],
    )


@transaction.atomic
def report_settings_update(
    *,
    user_id: int,
    receive_mails: bool | None = None,
    interval_days: int | None = None,
    local_hour: int | None = None,
    last_report_at: datetime | None = _UNSET,
) -> ReportSettings:
    """Change the given settings of the user (creating the row with defaults first)."""
    if not User.objects.filter(pk=user_id).exists():
        raise NotFoundError("User not found.")
    settings, _ = ReportSettings.objects.select_for_update().get_or_create(user_id=user_id)
    changed: list[str] = []
    if receive_mails is not None:
        settings.receive_mails = receive_mails
        changed.append("receive_mails")
    if interval_days is not None:
        settings.interval_days = interval_days
        changed.append("interval_days")
    if local_hour is not None:
        settings.local_hour = local_hour
        changed.append("local_hour")
    if last_report_at is not _UNSET:
        settings.last_report_at = last_report_at
        changed.append("last_report_at")
    if changed:
        settings.full_clean()
        settings.save(update_fields=[*changed, "updated_at"])
    return settings


@transaction.atomic
def report_generate(*, user_id: int, now: datetime) -> Report:
    """Build and store the user's report for the period ending with the local day before `now`,
    and set `last_report_at` to `now`. Idempotent: a report already stored for the same period
    is returned unchanged. Missing household, sensor or readings give a `no_data` report."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("User not found.")
    settings, _ = ReportSettings.objects.select_for_update().get_or_create(user_id=user_id)
    household = Household.objects.filter(user_id=user_id).first()
    time_zone = household.time_zone if household is not None else "Europe/Berlin"
    period = report_period(now=now, interval_days=settings.interval_days, time_zone=time_zone)
    existing = Report.objects.filter(
        user_id=user_id, period_start=period.bounds[0], period_end=period.bounds[-1]
    ).first()
    if existing is None:
        existing = _report_create(user_id=user_id, household=household, period=period)
    settings.last_report_at = now
    settings.save(update_fields=["last_report_at", "updated_at"])
    return existing


def reports_generate_due(*, now: datetime) -> list[int]:
    """Build the report of every household due at `now` (the hourly fan-out); the report ids."""
    return [report_generate(user_id=user_id, now=now).pk for user_id in reports_due(now=now)]


def _report_create(*, user_id: int, household: Household | None, period: ReportPeriod) -> Report:
    fields: dict[str, Any] = {
        "period_start": period.bounds[0],
        "period_end": period.bounds[-1],
        "first_day": period.first_day,
        "last_day": period.last_day,
        "time_zone": household.time_zone if household is not None else "Europe/Berlin",
    }
    if household is None:
        return _no_data(user_id, fields, Report.NoDataReason.NO_HOUSEHOLD)
    sensor_id = (
        Sensor.objects.filter(user_id=user_id, sensor_type=Sensor.SensorType.ELECTRICITY)
        .values_list("pk", flat=True)
        .first()
    )
    if sensor_id is None:
        return _no_data(user_id, fields, Report.NoDataReason.NO_SENSOR)
    days, readings = _daily_consumption(sensor_id=sensor_id, bounds=period.bounds)
    if readings == 0:
        return _no_data(user_id, fields, Report.NoDataReason.NO_READINGS)

    day_dates = [period.first_day + timedelta(days=i) for i in range(len(days))]
    total = sum(days, Decimal(0))
    count = Decimal(len(days))
    working = household.working_price_per_kwh
    base = household.base_price_per_month or Decimal(0)
    total_cost: Decimal | None = None
    if working is not None:
        total_cost = sum(
            (
                used * working + base / calendar.monthrange(day.year, day.month)[1]
                for used, day in zip(days, day_dates, strict=True)
            ),
            Decimal(0),
        )
    # Ties go to the later day: scan in order, replace on <= / >=.
    best = worst = 0
    for index, used in enumerate(days):
        if used <= days[best]:
            best = index
        if used >= days[worst]:
            worst = index
    report = _report_save(
        Report(
            user_id=user_id,
            status=Report.Status.OK,
            total_consumption_kwh=_round(total, KWH),
            average_daily_consumption_kwh=_round(total / count, KWH),
            total_cost_eur=_round(total_cost, EUR) if total_cost is not None else None,
            average_daily_cost_eur=_round(total_cost / count, EUR)
            if total_cost is not None
            else None,
            best_day=day_dates[best],
            best_day_consumption_kwh=_round(days[best], KWH),
            worst_day=day_dates[worst],
            worst_day_consumption_kwh=_round(days[worst], KWH),
            **fields,
        )
    )
    goal = household.daily_consumption_goal_kwh
    if household.app_version == Household.AppVersion.TRANSPARENCY or not goal or goal <= 0:
        goal = None
    ReportDay.objects.bulk_create(
        ReportDay(
            report=report,
            day=day,
            consumption_kwh=_round(used, KWH),
            goal_kwh=goal,
            exceeded=used > goal if goal is not None else None,
            progress_percent=_round(used / goal * 100, PERCENT) if goal is not None else None,
        )
        for used, day in zip(days, day_dates, strict=True)
    )
    return report


def _no_data(user_id: int, fields: dict[str, Any], reason: str) -> Report:
    return _report_save(
        Report(user_id=user_id, status=Report.Status.NO_DATA, no_data_reason=reason, **fields)
    )


def _report_save(report: Report) -> Report:
    report.full_clean()
    report.save()
    return report


def _daily_consumption(*, sensor_id: int, bounds: list[datetime]) -> tuple[list[Decimal], int]:
    """Summed consumption per day [bounds[i], bounds[i+1]) and the number of readings, in one
    query."""
    sums: dict[str, Any] = {
        f"day_{i}": Sum(
            "consumption", filter=Q(timestamp__gte=bounds[i], timestamp__lt=bounds[i + 1])
        )
        for i in range(len(bounds) - 1)
    }
    row = Reading.objects.filter(
        sensor_id=sensor_id, timestamp__gte=bounds[0], timestamp__lt=bounds[-1]
    ).aggregate(readings=Count("pk"), **sums)
    days = [Decimal(row[f"day_{i}"] or 0) for i in range(len(bounds) - 1)]
    return days, int(row["readings"])


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)
