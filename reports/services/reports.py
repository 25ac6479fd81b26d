"""Writes for consumption reports: settings changes and building a household's report.

Data source: the 15-minute rollups (672 rows for a week instead of 40 320 readings) when they
are complete for the period, that is when the last rollup refresh covers every reading received
up to ROLLUP_GRACE after the period's end (`rollups_cover_until`); otherwise, e.g. for a report
due right after midnight or when the refresh is behind, the raw readings (`Reading.consumption`).
Both are summed per local day in one query with exact decimals (grouped by local date on
PostgreSQL; local midnights are whole quarter hours in every real zone, so buckets never straddle
two days) and give the same figures to the Wh (tested). A reading that arrives later than the
report is built is in neither.

Figures (the old platform's, with its defects fixed: docs/design.md, differences 10 and 13): the
period is the last `interval_days` full local days of the household's zone before today (DST days
have 23 or 25 hours). Day sums are over [local midnight, next local midnight). Cost per day =
consumption * working price + base price per month / days of that day's month (the old platform
ignored the base price); without a working price there is no cost, without a base price it counts as
0. Totals are summed unrounded, then rounded half up to 0.001 kWh and 0.01 €; averages are total /
number of days. Each day's cost is rounded on its own, so the day costs may add up to the total ± a
few cents.

Mail: a new report with data is `pending` and its mail task is enqueued after commit when the
household wants report mails and the user is active with an e-mail address; otherwise the
report's mail is `skipped` with the reason. A report found again (same period) is not mailed
again.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Q, Sum

from analytics.models import ConsumptionRollup
from analytics.selectors.aggregates import local_period_bounds, rollups_cover_until
from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import Household, User
from reports.selectors.reports import report_mail_ids_stuck
from sensors.models import Sensor
from sensors.selectors.assignments import Period, household_periods
from sensors.selectors.readings import reading_day_sums

from ..models import MailSkipReason, MailStatus, Report, ReportDay, ReportSettings
from ..tasks import send_report_mail_task
from .outbox import mail_recipient_missing

KWH = Decimal("0.001")
EUR = Decimal("0.01")
PERCENT = Decimal("0.01")
_UNSET: Any = object()
STUCK_MAIL_MIN_AGE = timedelta(minutes=30)
STUCK_MAIL_MAX_AGE = timedelta(days=2)
# The rollups serve a report when they hold every reading received this long after its period
# (pushes in flight, a Pi's buffered batch after a short outage).
ROLLUP_GRACE = timedelta(minutes=15)


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
        mail_skip_reason = ""
        if not settings.receive_mails:
            mail_skip_reason = MailSkipReason.OPTED_OUT
        elif mail_recipient_missing(is_active=user.is_active, email=user.email):
            mail_skip_reason = MailSkipReason.NO_EMAIL
        existing = _report_create(
            user_id=user_id,
            household=household,
            period=period,
            mail_skip_reason=mail_skip_reason,
        )
        if existing.mail_status == MailStatus.PENDING:
            report_mail_enqueue(report_id=existing.pk)
    settings.last_report_at = now
    settings.save(update_fields=["last_report_at", "updated_at"])
    return existing


def report_mail_enqueue(*, report_id: int) -> None:
    """Enqueue the report's mail task once the current transaction commits. A broker that is
    down is logged, not raised: the report stays `pending` and the hourly run enqueues it again
    (`report_mail_ids_pending`)."""
    transaction.on_commit(partial(send_report_mail_task.delay, report_id), robust=True)


def report_mails_requeue_stuck(*, now: datetime) -> int:
    """Enqueue again the mails of reports built between 2 days and 30 minutes before `now`
    that are still `pending` (their task was lost); a mail already on its way is not sent twice
    (the send sees it `sent`). Returns how many were enqueued."""
    report_ids = report_mail_ids_stuck(
        created_after=now - STUCK_MAIL_MAX_AGE, created_before=now - STUCK_MAIL_MIN_AGE
    )
    for report_id in report_ids:
        send_report_mail_task.delay(report_id)
    return len(report_ids)


def _report_create(
    *, user_id: int, household: Household | None, period: ReportPeriod, mail_skip_reason: str
) -> Report:
    fields: dict[str, Any] = {
        "period_start": period.bounds[0],
        "period_end": period.bounds[-1],
        "first_day": period.first_day,
        "last_day": period.last_day,
        "time_zone": household.time_zone if household is not None else "Europe/Berlin",
    }
    if household is None:
        return _no_data(user_id, fields, Report.NoDataReason.NO_HOUSEHOLD)
    # The household's time with each electricity sensor it held: a sensor passed on from another
    # household brings none of that household's readings.
    periods = household_periods(user_id=user_id, sensor_type=Sensor.SensorType.ELECTRICITY)
    if not periods:
        return _no_data(user_id, fields, Report.NoDataReason.NO_SENSOR)
    days, readings = _daily_consumption(
        household_key=user_id,
        periods=periods,
        bounds=period.bounds,
        time_zone=fields["time_zone"],
        first_day=period.first_day,
    )
    if readings == 0:
        return _no_data(user_id, fields, Report.NoDataReason.NO_READINGS)

    day_dates = [period.first_day + timedelta(days=i) for i in range(len(days))]
    total = sum(days, Decimal(0))
    count = Decimal(len(days))
    working = household.working_price_per_kwh
    base = household.base_price_per_month or Decimal(0)
    total_cost: Decimal | None = None
    day_costs: list[Decimal | None] = [None] * len(days)
    if working is not None:
        day_costs = [
            used * working + base / calendar.monthrange(day.year, day.month)[1]
            for used, day in zip(days, day_dates, strict=True)
        ]
        total_cost = sum((cost for cost in day_costs if cost is not None), Decimal(0))
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
            mail_status=(MailStatus.SKIPPED if mail_skip_reason else MailStatus.PENDING),
            mail_skip_reason=mail_skip_reason,
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
            cost_eur=_round(cost, EUR) if cost is not None else None,
        )
        for used, day, cost in zip(days, day_dates, day_costs, strict=True)
    )
    return report


def _no_data(user_id: int, fields: dict[str, Any], reason: str) -> Report:
    return _report_save(
        Report(
            user_id=user_id,
            status=Report.Status.NO_DATA,
            no_data_reason=reason,
            mail_status=MailStatus.SKIPPED,
            mail_skip_reason=MailSkipReason.NO_DATA,
            **fields,
        )
    )


def _report_save(report: Report) -> Report:
    # Field checks only (digits, choices) in Python. The check constraints, the one report per
    # period and the user's existence are the database's: asking it first costs a query (and a
    # savepoint) each, about a third of building a report, and the row lock on the settings
    # already serialises builds of one user.
    report.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
    report.save()
    return report


def _daily_consumption(
    *,
    household_key: int,
    periods: list[Period],
    bounds: list[datetime],
    time_zone: str,
    first_day: date,
) -> tuple[list[Decimal], int]:
    """Summed consumption of the household's periods per local day [bounds[i], bounds[i+1]) and
    the number of readings, in one query, from the rollups when they are complete for the
    period, else from the readings."""
    covered = rollups_cover_until()
    if covered is None or covered < bounds[-1] + ROLLUP_GRACE:
        return reading_day_sums(
            periods=periods, bounds=bounds, time_zone=time_zone, first_day=first_day
        )
    sensor_ids = sorted({period.sensor_id for period in periods})
    if connection.vendor == "postgresql":
        return _rollup_day_sums_postgresql(
            household_key=household_key,
            sensor_ids=sensor_ids,
            bounds=bounds,
            time_zone=time_zone,
            first_day=first_day,
        )
    sums: dict[str, Any] = {
        f"day_{i}": Sum(
            "consumption", filter=Q(bucket_start__gte=bounds[i], bucket_start__lt=bounds[i + 1])
        )
        for i in range(len(bounds) - 1)
    }
    row = ConsumptionRollup.objects.filter(
        sensor_id__in=sensor_ids,
        household_key=household_key,
        bucket_start__gte=bounds[0],
        bucket_start__lt=bounds[-1],
    ).aggregate(readings=Sum("readings"), **sums)
    days = [Decimal(row[f"day_{i}"] or 0) for i in range(len(bounds) - 1)]
    return days, int(row["readings"] or 0)


def _rollup_day_sums_postgresql(
    *,
    household_key: int,
    sensor_ids: list[int],
    bounds: list[datetime],
    time_zone: str,
    first_day: date,
) -> tuple[list[Decimal], int]:
    # `AT TIME ZONE` turns each instant into the household's wall clock, so the date is the
    # local day: [local midnight, next local midnight), 23 or 25 hours at DST changes.
    sql = (
        "SELECT (bucket_start AT TIME ZONE %s)::date, SUM(consumption), SUM(readings) "  # noqa: S608
        f"FROM {ConsumptionRollup._meta.db_table} "
        "WHERE sensor_id = ANY(%s) AND household_key = %s "
        "AND bucket_start >= %s AND bucket_start < %s GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [time_zone, sensor_ids, household_key, bounds[0], bounds[-1]])
        rows = cursor.fetchall()
    by_day = {day: Decimal(total) for day, total, _ in rows}
    days = [by_day.get(first_day + timedelta(days=i), Decimal(0)) for i in range(len(bounds) - 1)]
    return days, sum(int(count) for _, _, count in rows)


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)
