"""Reads for consumption reports: due households, report settings, a household's reports.

Due selection (as the old platform's, but in the household's own zone: docs/design.md,
difference 10): with `local` = now on the household's wall clock and `D` = whole local days from
the local day of `last_report_at` to `local`'s day, a household is due when its user is active and
* it never had a report and `local.hour >= local_hour`, or
* `D > interval_days` (overdue: catch up at once, whatever the hour), or
* `D == interval_days` and `local.hour >= local_hour`.
Users with a household but no settings row count with the defaults (interval 3, hour 6, never).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import Household
from reports.models import MailStatus, Report, ReportSettings

DEFAULT_INTERVAL_DAYS = 3
DEFAULT_LOCAL_HOUR = 6


@dataclass(frozen=True)
class ReportSchedule:
    """The schedule of one household as the due check sees it."""

    interval_days: int
    local_hour: int
    last_report_at: datetime | None


def report_is_due(*, schedule: ReportSchedule, now: datetime, time_zone: str) -> bool:
    """Whether a report is due at `now` (aware) for `schedule` in `time_zone` (see module doc)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    hour_reached = local.hour >= schedule.local_hour
    if schedule.last_report_at is None:
        return hour_reached
    days = (local.date() - schedule.last_report_at.astimezone(zone).date()).days
    return days > schedule.interval_days or (days == schedule.interval_days and hour_reached)


def reports_due(*, now: datetime) -> list[int]:
    """Ids of the active users with a household whose report is due at `now`, ascending."""
    households = (
        Household.objects.filter(user__is_active=True)
        .select_related("user__report_settings")
        .only(
            "user_id",
            "time_zone",
            "user__is_active",
            "user__report_settings__interval_days",
            "user__report_settings__local_hour",
            "user__report_settings__last_report_at",
        )
        .order_by("user_id")
    )
    due: list[int] = []
    for household in households:
        settings = getattr(household.user, "report_settings", None)
        schedule = (
            ReportSchedule(
                interval_days=settings.interval_days,
                local_hour=settings.local_hour,
                last_report_at=settings.last_report_at,
            )
            if settings is not None
            else ReportSchedule(
                interval_days=DEFAULT_INTERVAL_DAYS,
                local_hour=DEFAULT_LOCAL_HOUR,
                last_report_at=None,
            )
        )
        if report_is_due(schedule=schedule, now=now, time_zone=household.time_zone):
            due.append(household.user_id)
    return due


def report_list(*, user_id: int) -> QuerySet[Report]:
    """The user's reports, newest period first."""
    return Report.objects.filter(user_id=user_id).order_by("-period_start", "-id")


def report_get(*, user_id: int, report_id: int) -> Report:
    """One of the user's reports with its days; NotFoundError for another user's or none."""
    report = Report.objects.filter(user_id=user_id, pk=report_id).prefetch_related("days").first()
    if report is None:
        raise NotFoundError("Report not found.")
    return report


def report_settings_current(*, user_id: int) -> ReportSettings:
    """The user's settings row, or an unsaved one with the defaults when there is none yet."""
    found = ReportSettings.objects.filter(user_id=user_id).first()
    return found if found is not None else ReportSettings(user_id=user_id)


def report_previous(*, report: Report) -> Report | None:
    """The user's latest report with data whose period starts before `report`'s, if any: what
    the trend arrows compare with."""
    return (
        Report.objects.filter(
            user_id=report.user_id,
            status=Report.Status.OK,
            period_start__lt=report.period_start,
        )
        .order_by("-period_start", "-id")
        .first()
    )


def report_mail_ids_stuck(*, created_after: datetime, created_before: datetime) -> list[int]:
    """Reports whose mail is still `pending` (never tried: its task was lost, say to a broker
    outage) and that were built between the two times (aware UTC), oldest first."""
    return list(
        Report.objects.filter(
            mail_status=MailStatus.PENDING,
            created_at__gt=created_after,
            created_at__lt=created_before,
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
