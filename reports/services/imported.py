"""Writes for report rows brought in from another system (the import from the old platform,
`energyleaf/legacy`): a household's report settings and its past reports with their days.
Past reports were mailed by the old platform: they are stored as sent, so nothing mails them
again."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from reports.models import MailStatus, Report, ReportDay, ReportSettings


@transaction.atomic
def report_settings_import(
    *,
    user_id: int,
    receive_mails: bool,
    interval_days: int,
    local_hour: int,
    last_report_at: datetime | None,
) -> ReportSettings | None:
    """The user's report settings; None when the user has some already."""
    if ReportSettings.objects.filter(user_id=user_id).exists():
        return None
    row = ReportSettings(
        user_id=user_id,
        receive_mails=receive_mails,
        interval_days=interval_days,
        local_hour=local_hour,
        last_report_at=last_report_at,
    )
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def report_import(
    *,
    user_id: int,
    period_start: datetime,
    period_end: datetime,
    first_day: date,
    last_day: date,
    time_zone: str,
    figures: dict[str, Any],
    sent_at: datetime,
    days: list[dict[str, Any]],
) -> Report | None:
    """A past report (status ok, mail sent at `sent_at`) with its days (`day`,
    `consumption_kwh`, `goal_kwh`, `exceeded`, `progress_percent`; the first row of a day
    counts); None when the user has a report of that period already."""
    if Report.objects.filter(
        user_id=user_id, period_start=period_start, period_end=period_end
    ).exists():
        return None
    report = Report(
        user_id=user_id,
        period_start=period_start,
        period_end=period_end,
        first_day=first_day,
        last_day=last_day,
        time_zone=time_zone,
        status=Report.Status.OK,
        mail_status=MailStatus.SENT,
        mail_sent_at=sent_at,
        **figures,
    )
    report.full_clean()
    report.save()
    seen: set[date] = set()
    rows = []
    for day in days:
        if day["day"] in seen:
            continue
        seen.add(day["day"])
        rows.append(ReportDay(report=report, **day))
    for row in rows:
        row.full_clean(exclude=["report"])
    ReportDay.objects.bulk_create(rows)
    return report


def quantized(value: float | None, places: int) -> Decimal | None:
    """A double as a Decimal with `places` decimals (None stays None)."""
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places))
