"""Report mails: the mail of one report (HTML and text, German or English, charts inline) and
its sending state on the report.

Guarantees (the outbox's, `reports/services/outbox.py`): a report is mailed at most once (the
send locks the report row and sends only a `pending` or `failed` one) unless an admin resends
it; the household's wish is checked again when sending (an unsubscribe between building and
sending wins); a transport failure is recorded on the report (`failed`, attempts, last error)
and raised as `ReportMailError` for the task to retry with backoff. The report itself is never
touched beyond its mail fields.

Message shape: multipart/related holding multipart/alternative (text/plain, text/html) and the
chart PNGs, each with a Content-ID that the HTML references as `cid:` (inline images, no remote
content). The admin preview renders the same HTML with the charts as data: URLs.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.mime.image import MIMEImage
from typing import Any, Literal

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import Household
from reports.compute.charts import CHART_NAMES, ChartDay, chart_names, chart_render
from reports.selectors.reports import report_get, report_previous
from reports.services.errors import ReportMailError

from ..compute.formatting import format_date, format_eur, format_kwh, format_number, weekday_name
from ..models import MailSkipReason, Report, ReportDay, ReportSettings
from .mails import app_url, mail_language, unsubscribe_url
from .outbox import MailKind, mail_deliver, mail_recipient_missing, mail_resend
from .reports import report_mail_enqueue

logger = logging.getLogger(__name__)

ImageMode = Literal["cid", "data"]

_CHART_ALT = {
    "de": {"consumption": "Täglicher Verbrauch", "cost": "Energiekosten pro Tag"},
    "en": {"consumption": "Daily consumption", "cost": "Energy cost per day"},
}


@dataclass(frozen=True)
class ChartImage:
    """One chart of a mail: its name, Content-ID (without brackets) and PNG bytes."""

    name: str
    content_id: str
    png: bytes


@dataclass(frozen=True)
class RenderedReportMail:
    """Everything of a report mail except the transport."""

    subject: str
    text: str
    html: str
    images: list[ChartImage]
    to: str
    unsubscribe_url: str


@dataclass(frozen=True)
class Trend:
    """A figure against the previous report's: arrow ↑ (more), ↓ (less) or → (equal), the change
    in percent of the previous value (None when that was 0) and the previous value, written."""

    arrow: str
    percent: str | None
    previous: str


def report_chart_days(*, days: Iterable[ReportDay]) -> list[ChartDay]:
    """A report's days as chart inputs."""
    return [
        ChartDay(
            day=day.day,
            consumption_kwh=day.consumption_kwh,
            goal_kwh=day.goal_kwh,
            exceeded=day.exceeded,
            cost_eur=day.cost_eur,
        )
        for day in days
    ]


def report_chart_for_user(*, user_id: int, report_id: int, name: str) -> bytes:
    """Chart `name` of one of the user's reports as PNG, in the household's mail language.
    NotFoundError for another user's report, a report without data or an unknown chart."""
    report = report_get(user_id=user_id, report_id=report_id)
    days = report_chart_days(days=report.days.all())
    if report.status != Report.Status.OK or name not in chart_names(days):
        raise NotFoundError("Chart not found.")
    language = mail_language(Household.objects.filter(user_id=user_id).first())
    return chart_render(name=name, days=days, language=language)


def report_mail_render(*, report: Report, image_mode: ImageMode = "cid") -> RenderedReportMail:
    """Subject, text and HTML of the report's mail in the household's language, with its charts.
    `image_mode="data"` puts the charts into the HTML as data: URLs (the admin preview)."""
    if report.status != Report.Status.OK:
        raise ValueError("a report without data is not mailed")
    user = report.user
    language = mail_language(Household.objects.filter(user_id=report.user_id).first())
    days = list(report.days.all())
    chart_days = report_chart_days(days=days)
    images = [
        ChartImage(
            name=name,
            content_id=f"{name}.report-{report.pk}@energyleaf",
            png=chart_render(name=name, days=chart_days, language=language),
        )
        for name in chart_names(chart_days)
    ]
    link = unsubscribe_url(user_id=report.user_id, scope="reports")
    context = _context(
        report=report,
        days=days,
        previous=report_previous(report=report),
        language=language,
        name=user.first_name or user.username,
        charts=[
            {
                "name": image.name,
                "alt": _CHART_ALT[language][image.name],
                "src": (
                    f"cid:{image.content_id}"
                    if image_mode == "cid"
                    else "data:image/png;base64," + base64.b64encode(image.png).decode()
                ),
            }
            for image in images
        ],
        unsubscribe=link,
    )
    prefix = f"reports/mail/report.{language}"
    return RenderedReportMail(
        subject=" ".join(render_to_string(f"{prefix}.subject.txt", context).split()),
        text=render_to_string(f"{prefix}.txt", context),
        html=render_to_string(f"{prefix}.html", context),
        images=images,
        to=user.email,
        unsubscribe_url=link,
    )


class RelatedEmailMessage(EmailMultiAlternatives):
    """Text and HTML alternatives inside multipart/related with the inline images; the related
    part names its root's type (RFC 2387)."""

    mixed_subtype = "related"

    def message(self) -> Any:
        mime = super().message()
        if mime.get_content_type() == "multipart/related":
            mime.set_param("type", "multipart/alternative")
        return mime


def report_mail_message(*, rendered: RenderedReportMail) -> EmailMultiAlternatives:
    """The e-mail of a rendered report mail: related(alternative(text, html), images)."""
    message = RelatedEmailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[rendered.to],
        headers={"List-Unsubscribe": f"<{rendered.unsubscribe_url}>"},
    )
    message.attach_alternative(rendered.html, "text/html")
    for image in rendered.images:
        part = MIMEImage(image.png, "png")
        part.add_header("Content-ID", f"<{image.content_id}>")
        part.add_header("Content-Disposition", "inline", filename=f"{image.name}.png")
        message.attach(part)
    return message


def report_mail_send(*, report_id: int, now: datetime | None = None) -> str:
    """Send the report's mail if it is still to be sent; returns what happened (`sent`,
    `skipped_<reason>`, `not_due` or `missing`). Raises ReportMailError after recording a
    transport failure on the report."""
    outcome = mail_deliver(kind=REPORT_MAIL, row_id=report_id, now=now or timezone.now())
    if outcome.error is not None:
        error = outcome.error
        raise ReportMailError(f"report {report_id}: {type(error).__name__}: {error}") from error
    logger.info("report_mail.%s report=%s", outcome.name, report_id, extra={"report_id": report_id})
    return outcome.name


def _report_mail_compose(report: Report, now: datetime) -> EmailMessage | MailSkipReason:
    """The report's message, or why it is not mailed: no data, the household's wish (checked
    again when sending: an unsubscribe between building and sending wins), no e-mail."""
    receives = (
        ReportSettings.objects.filter(user_id=report.user_id)
        .values_list("receive_mails", flat=True)
        .first()
    )
    if report.status != Report.Status.OK:
        return MailSkipReason.NO_DATA
    if receives is False:
        return MailSkipReason.OPTED_OUT
    if mail_recipient_missing(is_active=report.user.is_active, email=report.user.email):
        return MailSkipReason.NO_EMAIL
    return report_mail_message(rendered=report_mail_render(report=report))


# Retries are the mail task's (with backoff); it waits for a report another worker holds.
REPORT_MAIL = MailKind(
    name="report_mail",
    label="report",
    model=Report,
    compose=_report_mail_compose,
    select_related=("user",),
    wait_for_lock=True,
)


def report_mails_resend(*, report_ids: list[int], actor_id: int) -> int:
    """Set the mails of the given reports with data back to `pending` and enqueue them (an
    admin's resend), each recorded in the audit log with the admin. The send still respects an
    opt-out. Returns the number of reports queued."""
    return mail_resend(
        kind=REPORT_MAIL,
        rows=Report.objects.filter(pk__in=report_ids, status=Report.Status.OK),
        actor_id=actor_id,
        enqueue=lambda report_id: report_mail_enqueue(report_id=report_id),
    )


def trend_compute(
    *, current: Decimal | None, previous: Decimal | None, write: Any, language: str
) -> Trend | None:
    """The trend of a figure against the previous report's; None when either is missing."""
    if current is None or previous is None:
        return None
    arrow = "↑" if current > previous else "↓" if current < previous else "→"
    percent = None
    if previous != 0:
        change = (current - previous) / previous * 100
        sign = "+" if change > 0 else "\u2212" if change < 0 else "\u00b1"
        percent = f"{sign}{format_number(abs(change), language, places=0)} %"
    return Trend(arrow=arrow, percent=percent, previous=str(write(previous, language)))


def _context(
    *,
    report: Report,
    days: list[ReportDay],
    previous: Report | None,
    language: str,
    name: str,
    charts: list[dict[str, str]],
    unsubscribe: str,
) -> dict[str, Any]:
    def trend(field: str, write: Any) -> Trend | None:
        if previous is None:
            return None
        return trend_compute(
            current=getattr(report, field),
            previous=getattr(previous, field),
            write=write,
            language=language,
        )

    def money(value: Decimal | None) -> str | None:
        return format_eur(value, language) if value is not None else None

    if report.best_day is None or report.worst_day is None:
        raise ValueError("a report with data has a best and a worst day")
    has_goal = any(day.goal_kwh is not None for day in days)
    return {
        "name": name,
        "first_day": format_date(report.first_day, language),
        "last_day": format_date(report.last_day, language),
        "day_count": len(days),
        "total_consumption": format_kwh(report.total_consumption_kwh or 0, language),
        "average_consumption": format_kwh(report.average_daily_consumption_kwh or 0, language),
        "total_cost": money(report.total_cost_eur),
        "average_cost": money(report.average_daily_cost_eur),
        "total_consumption_trend": trend("total_consumption_kwh", format_kwh),
        "average_consumption_trend": trend("average_daily_consumption_kwh", format_kwh),
        "total_cost_trend": trend("total_cost_eur", format_eur),
        "average_cost_trend": trend("average_daily_cost_eur", format_eur),
        "previous_first_day": format_date(previous.first_day, language) if previous else None,
        "previous_last_day": format_date(previous.last_day, language) if previous else None,
        "best_day": format_date(report.best_day, language),
        "best_weekday": weekday_name(report.best_day, language),
        "best_consumption": format_kwh(report.best_day_consumption_kwh or 0, language),
        "worst_day": format_date(report.worst_day, language),
        "worst_weekday": weekday_name(report.worst_day, language),
        "worst_consumption": format_kwh(report.worst_day_consumption_kwh or 0, language),
        "has_goal": has_goal,
        "days": [
            {
                "date": format_date(day.day, language),
                "weekday": weekday_name(day.day, language),
                "consumption": format_kwh(day.consumption_kwh, language),
                "cost": money(day.cost_eur),
                "goal": format_kwh(day.goal_kwh, language) if day.goal_kwh is not None else None,
                "progress": (
                    f"{format_number(day.progress_percent, language, places=0)} %"
                    if day.progress_percent is not None
                    else None
                ),
                "exceeded": day.exceeded,
            }
            for day in days
        ],
        "charts": charts,
        "app_url": app_url(),
        "reports_url": f"{app_url()}reports",
        "unsubscribe_url": unsubscribe,
    }


__all__ = [
    "CHART_NAMES",
    "REPORT_MAIL",
    "RenderedReportMail",
    "report_chart_for_user",
    "report_mail_message",
    "report_mail_render",
    "report_mail_send",
    "report_mails_resend",
]
