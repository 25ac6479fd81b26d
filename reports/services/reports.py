"""Writes for consumption reports: settings changes and building a household's report.

Data: the household's consumption per local day (`household_daily_consumption` in
analytics: exact sums from the rollups when they are complete for the period, else from the
readings; a reading that arrives later than the report is built is in neither).

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
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from analytics.selectors.aggregates import household_daily_consumption, local_day_bounds
from energyleaf.audit.services import audit_event_record
from energyleaf.common.exceptions import ApplicationError, NotFoundError
from energyleaf.users.models import Household, User
from energyleaf.users.selectors import household_time_zone
from reports.selectors.reports import DEFAULT_INTERVAL_DAYS, report_mail_ids_stuck
from sensors.models import Sensor
from sensors.selectors.assignments import household_periods

from ..models import MailSkipReason, MailStatus, Report, ReportDay, ReportSettings
from ..tasks import send_report_mail_task
from .outbox import mail_recipient_missing

KWH = Decimal("0.001")
EUR = Decimal("0.01")
PERCENT = Decimal("0.01")
_UNSET: Any = object()
STUCK_MAIL_MIN_AGE = timedelta(minutes=30)
STUCK_MAIL_MAX_AGE = timedelta(days=2)


@dataclass(frozen=True)
class ReportPeriod:
    """The local days `first_day`..`last_day` and their bounds as aware UTC datetimes
    (`bounds[i]` is the start of day i, `bounds[-1]` the end of the last day)."""

    first_day: date
    last_day: date
    bounds: list[datetime]


def report_period(*, now: datetime, interval_days: int, time_zone: str) -> ReportPeriod:
    """The last `interval_days` full local days before the local day of `now`."""
    today = now.astimezone(ZoneInfo(time_zone)).date()
    first_day = today - timedelta(days=interval_days)
    last_day = today - timedelta(days=1)
    return ReportPeriod(
        first_day=first_day,
        last_day=last_day,
        bounds=local_day_bounds(first_day=first_day, last_day=last_day, time_zone=time_zone),
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
    user = User.objects.select_related("household").filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("User not found.")
    settings, _ = ReportSettings.objects.select_for_update().get_or_create(user_id=user_id)
    household: Household | None = getattr(user, "household", None)
    time_zone = household_time_zone(user=user).key
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
            time_zone=time_zone,
            mail_skip_reason=mail_skip_reason,
        )
        if existing.mail_status == MailStatus.PENDING:
            report_mail_enqueue(report_id=existing.pk)
    settings.last_report_at = now
    settings.save(update_fields=["last_report_at", "updated_at"])
    return existing


class ReportNoDataError(ApplicationError):
    """A report asked for now would have no data; nothing was stored (409 `report_no_data`)."""

    status_code = 409
    default_code = "report_no_data"


class _NoDataBuiltError(Exception):
    """Rolls back a report without data built on request (the scheduled run builds its own)."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.no_data_reason)
        self.report = report


_NO_DATA_TEXT: dict[str, str] = {
    Report.NoDataReason.NO_SENSOR: "your household has no electricity sensor",
    Report.NoDataReason.NO_READINGS: "no readings arrived in the period",
    Report.NoDataReason.NO_HOUSEHOLD: "the account has no household data",
}


@dataclass(frozen=True)
class ReportOnRequest:
    """A report asked for by its household: `created` is False when the period's report was
    already stored (then it is answered as it is and not mailed again)."""

    report: Report
    created: bool


def report_generate_on_request(*, user_id: int, now: datetime) -> ReportOnRequest:
    """ "Generate my report now": the household's report for its current period (the last
    `interval_days` full local days, as the scheduled run builds it: `report_generate`, the same
    figures and the same mail through the outbox), recorded in the audit log.

    A period whose report is stored already is answered with it. A report that would have no
    data is not stored (the scheduled run may still find late readings) and raises
    ReportNoDataError naming the reason; the attempt is audited. NotFoundError `no_household`
    for an account without household data, before anything is written. The rate limit is the
    API's (`reports/api/views.py`). The report, its mail and its audit event are one
    transaction; the no-data audit event is written after it was rolled back."""
    user = User.objects.select_related("household").filter(pk=user_id).first()
    if user is None or getattr(user, "household", None) is None:
        raise NotFoundError("This account has no household data.", code="no_household")
    interval = (
        ReportSettings.objects.filter(user_id=user_id)
        .values_list("interval_days", flat=True)
        .first()
    )
    period = report_period(
        now=now,
        interval_days=interval or DEFAULT_INTERVAL_DAYS,
        time_zone=household_time_zone(user=user).key,
    )
    existed = Report.objects.filter(
        user_id=user_id, period_start=period.bounds[0], period_end=period.bounds[-1]
    ).exists()
    details: dict[str, Any] = {
        "first_day": period.first_day.isoformat(),
        "last_day": period.last_day.isoformat(),
    }
    try:
        with transaction.atomic():
            report = report_generate(user_id=user_id, now=now)
            if report.status == Report.Status.NO_DATA and not existed:
                raise _NoDataBuiltError(report)
            audit_event_record(
                title="report/requested",
                app_function="reports-generate-now",
                user_id=user_id,
                details={
                    **details,
                    "report_id": report.pk,
                    "created": not existed,
                    "mail_status": report.mail_status,
                },
            )
    except _NoDataBuiltError as no_data:
        reason = str(no_data.report.no_data_reason)
        audit_event_record(
            title="report/requested_no_data",
            app_function="reports-generate-now",
            user_id=user_id,
            details={**details, "reason": reason},
        )
        raise ReportNoDataError(
            f"No report for {period.first_day.isoformat()} to {period.last_day.isoformat()}: "
            f"{_NO_DATA_TEXT.get(reason, reason)}.",
            extra={"reason": reason, **details},
        ) from None
    return ReportOnRequest(report=report, created=not existed)


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
    *,
    user_id: int,
    household: Household | None,
    period: ReportPeriod,
    time_zone: str,
    mail_skip_reason: str,
) -> Report:
    fields: dict[str, Any] = {
        "period_start": period.bounds[0],
        "period_end": period.bounds[-1],
        "first_day": period.first_day,
        "last_day": period.last_day,
        "time_zone": time_zone,
    }
    if household is None:
        return _no_data(user_id, fields, Report.NoDataReason.NO_HOUSEHOLD)
    # The household's time with each electricity sensor it held: a sensor passed on from another
    # household brings none of that household's readings.
    periods = household_periods(user_id=user_id, sensor_type=Sensor.SensorType.ELECTRICITY)
    if not periods:
        return _no_data(user_id, fields, Report.NoDataReason.NO_SENSOR)
    days, readings = household_daily_consumption(
        household_key=user_id,
        periods=periods,
        first_day=period.first_day,
        last_day=period.last_day,
        time_zone=time_zone,
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


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)
