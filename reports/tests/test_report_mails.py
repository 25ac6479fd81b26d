"""Report mails: the rendered mail, inline charts, the reports unsubscribe link, sending state,
retries on a failing transport, no double send, admin resend and preview."""

from __future__ import annotations

import re
import smtplib
from datetime import UTC, datetime
from decimal import Decimal
from email.message import Message
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client, override_settings
from django.urls import reverse

from energyleaf.audit.models import AuditEvent
from energyleaf.users.models import Household, User
from energyleaf.users.tests.factories import UserFactory
from reports.models import Report, ReportSettings
from reports.services.errors import ReportMailError
from reports.services.report_mails import report_mail_send, trend_compute
from reports.services.reports import report_generate, report_settings_update
from reports.tasks import generate_due_reports_task, send_report_mail_task
from sensors.models import Reading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 4, 2, 7, tzinfo=BERLIN)
EARLIER = datetime(2024, 3, 30, 7, tzinfo=BERLIN)


class FailingBackend(BaseEmailBackend):
    """A mail transport that is down."""

    calls = 0

    def send_messages(self, email_messages: Any) -> int:
        FailingBackend.calls += 1
        raise smtplib.SMTPServerDisconnected("connection refused by the test")


class FlakyBackend(BaseEmailBackend):
    """Fails the first attempt, then delivers to the locmem outbox."""

    calls = 0

    def send_messages(self, email_messages: Any) -> int:
        FlakyBackend.calls += 1
        if FlakyBackend.calls == 1:
            raise smtplib.SMTPServerDisconnected("first attempt fails")
        mail.outbox.extend(email_messages)
        return len(email_messages)


def household(language: str = "de", **fields: object) -> User:
    user = UserFactory(first_name="Anna", is_active=fields.pop("is_active", True))
    values: dict[str, object] = {
        "language": language,
        "working_price_per_kwh": Decimal("0.3000"),
        "base_price_per_month": Decimal("12.40"),
        "daily_consumption_goal_kwh": Decimal("3.000"),
        "app_version": Household.AppVersion.SELF_REFLECTION,
    }
    Household.objects.filter(user=user).update(**(values | fields))
    report_settings_update(user_id=user.pk, interval_days=3)
    sensor = SensorFactory(user=user)
    rows = [
        (datetime(2024, 3, 29, 22, 59, 59, tzinfo=UTC), "5"),  # 29.3. local: previous report
        (datetime(2024, 3, 29, 23, tzinfo=UTC), "1.25"),
        (datetime(2024, 3, 30, 12, tzinfo=UTC), "2"),
        (datetime(2024, 3, 31, 21, 30, tzinfo=UTC), "4.1"),
        (datetime(2024, 3, 31, 22, tzinfo=UTC), "0.333333"),
        (datetime(2024, 4, 1, 21, 59, 59, tzinfo=UTC), "1"),
    ]
    Reading.objects.bulk_create(
        Reading(sensor=sensor, timestamp=moment, value=Decimal(1000), consumption=Decimal(used))
        for moment, used in rows
    )
    return user


def build(user: User, now: datetime, capture: Any) -> Report:
    with capture(execute=True):
        report = report_generate(user_id=user.pk, now=now)
    report.refresh_from_db()
    return report


def parts(message: Message) -> list[Message]:
    return [part for part in message.walk() if not part.is_multipart()]


def test_report_mail_has_subject_figures_trends_and_inline_charts(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household()
    build(user, EARLIER, django_capture_on_commit_callbacks)  # previous: 27.-29.3., 5 kWh
    mail.outbox.clear()

    report = build(user, NOW, django_capture_on_commit_callbacks)

    assert (report.mail_status, report.mail_attempts, report.mail_last_error) == ("sent", 1, "")
    assert report.mail_sent_at is not None
    [sent] = mail.outbox
    assert sent.to == [user.email]
    assert sent.subject == "Energyleaf: Bericht von 30.03.2024 bis 01.04.2024"
    mime = sent.message()
    assert mime.get_content_type() == "multipart/related"
    assert mime.get_param("type") == "multipart/alternative"
    assert mime.get_payload()[0].get_content_type() == "multipart/alternative"
    html = next(p for p in parts(mime) if p.get_content_type() == "text/html")
    text = next(p for p in parts(mime) if p.get_content_type() == "text/plain")
    html_body = unescape(html.get_payload(decode=True).decode())
    text_body = text.get_payload(decode=True).decode()
    for body in (html_body, text_body):
        assert "8,68 kWh" in body  # total
        assert "2,89 kWh" in body  # average per day
        assert "3,82 €" in body  # total cost (base price included)
        assert "1,27 €" in body  # average cost per day
        assert "Montag, 01.04.2024" in body  # best day
        assert "1,33 kWh" in body
        assert "Sonntag, 31.03.2024" in body  # worst day
        assert "4,10 kWh" in body
        assert re.search(r"↑(</span>)? \+74 %", body)  # 8.683 against 5.000 kWh
        assert "137 %" in body  # progress of 31.3. against the 3 kWh goal
        assert "Anna" in body
    # Every chart is an inline part whose Content-ID the HTML references, and nothing else is.
    images = [p for p in parts(mime) if p.get_content_type() == "image/png"]
    content_ids = {p["Content-ID"].strip("<>") for p in images}
    assert content_ids == {
        f"consumption.report-{report.pk}@energyleaf",
        f"cost.report-{report.pk}@energyleaf",
    }
    assert set(re.findall(r'src="cid:([^"]+)"', html_body)) == content_ids
    for image in images:
        assert image.get_payload(decode=True).startswith(b"\x89PNG")
        assert image["Content-Disposition"].startswith("inline")
    assert "unsubscribe?token=" in sent.extra_headers["List-Unsubscribe"]


def test_english_household_gets_the_english_mail_and_no_trend_without_previous_report(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household(language="en")

    build(user, NOW, django_capture_on_commit_callbacks)

    [sent] = mail.outbox
    assert sent.subject == "Energyleaf: report from 2024-03-30 to 2024-04-01"
    assert "Total consumption: 8.68 kWh\n" in sent.body
    assert "Total energy cost: €3.82\n" in sent.body
    assert "Monday, 2024-04-01" in sent.body
    assert "↑" not in sent.body


def test_without_working_price_costs_read_not_configured_and_there_is_no_cost_chart(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household(working_price_per_kwh=None)

    report = build(user, NOW, django_capture_on_commit_callbacks)

    [sent] = mail.outbox
    assert "Energiekosten gesamt: Nicht konfiguriert" in sent.body
    images = [p for p in parts(sent.message()) if p.get_content_type() == "image/png"]
    assert [p["Content-ID"] for p in images] == [f"<consumption.report-{report.pk}@energyleaf>"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("opted out", "opted_out"), ("no sensor", "no_data"), ("inactive", "no_email")],
)
def test_reports_not_to_be_mailed_are_skipped_and_no_task_is_queued(
    case: str, reason: str, django_capture_on_commit_callbacks: Any
) -> None:
    user = UserFactory() if case == "no sensor" else household(is_active=case != "inactive")
    if case == "opted out":
        report_settings_update(user_id=user.pk, receive_mails=False)

    with django_capture_on_commit_callbacks() as callbacks:
        report = report_generate(user_id=user.pk, now=NOW)

    assert (report.mail_status, report.mail_skip_reason) == ("skipped", reason)
    assert callbacks == []
    assert mail.outbox == []


def test_unsubscribe_link_of_the_mail_turns_off_report_mails_of_its_user_only(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user, other = household(), household()
    build(user, NOW, django_capture_on_commit_callbacks)
    link = re.search(r"(http://\S+/unsubscribe\?token=\S+)", mail.outbox[0].body)
    assert link is not None
    path = link.group(1).removeprefix("http://localhost:8000")
    token = path.split("token=", 1)[1]
    client = Client()

    assert client.get(path).status_code == 200  # the confirmation page changes nothing
    assert ReportSettings.objects.get(user=user).receive_mails is True
    done = client.post("/unsubscribe", {"token": token})
    again = client.post("/unsubscribe", {"token": token})

    assert (done.status_code, again.status_code) == (200, 200)
    assert ReportSettings.objects.get(user=user).receive_mails is False
    assert ReportSettings.objects.get(user=other).receive_mails is True
    assert Household.objects.get(user=user).receive_anomaly_mails is True  # scope "reports"
    # The next report of that household is built and stored, but not mailed.
    Reading.objects.create(
        sensor=user.sensors.get(),
        timestamp=datetime(2024, 4, 3, 10, tzinfo=UTC),
        value=Decimal(1001),
        consumption=Decimal(1),
    )
    next_report = build(
        user, datetime(2024, 4, 5, 7, tzinfo=BERLIN), django_capture_on_commit_callbacks
    )
    assert (next_report.mail_status, next_report.mail_skip_reason) == ("skipped", "opted_out")
    assert len(mail.outbox) == 1


def test_unsubscribing_between_building_and_sending_wins() -> None:
    user = household()
    report = report_generate(user_id=user.pk, now=NOW)  # on-commit task not run
    report_settings_update(user_id=user.pk, receive_mails=False)

    assert report_mail_send(report_id=report.pk) == "skipped_opted_out"

    assert mail.outbox == []


def test_a_report_is_mailed_once_however_often_its_task_runs() -> None:
    user = household()
    report = report_generate(user_id=user.pk, now=NOW)

    outcomes = [send_report_mail_task.delay(report.pk).get() for _ in range(3)]

    assert outcomes == ["sent", "not_due", "not_due"]
    assert len(mail.outbox) == 1
    report.refresh_from_db()
    assert report.mail_attempts == 1


@pytest.fixture
def eager_retries() -> Any:
    """Eager tasks that retry in place (with propagation on, the first retry is raised)."""
    from energyleaf.celery import app

    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = propagates


@override_settings(EMAIL_BACKEND="reports.tests.test_report_mails.FailingBackend")
def test_a_failing_transport_is_retried_with_backoff_then_recorded_and_the_report_stays(
    eager_retries: None,
) -> None:
    user = household()
    report = report_generate(user_id=user.pk, now=NOW)
    FailingBackend.calls = 0

    result = send_report_mail_task.apply(args=[report.pk])  # eager: the retries run at once

    assert result.state == "FAILURE"
    assert isinstance(result.result, ReportMailError)
    report.refresh_from_db()
    assert FailingBackend.calls == 5  # first attempt + max_retries 4
    assert (report.mail_status, report.mail_attempts) == ("failed", 5)
    assert "connection refused by the test" in report.mail_last_error
    assert report.status == "ok"
    assert report.days.count() == 3
    assert send_report_mail_task.retry_backoff == 60
    assert send_report_mail_task.max_retries == 4


@override_settings(EMAIL_BACKEND="reports.tests.test_report_mails.FlakyBackend")
def test_a_mail_that_fails_once_is_sent_by_the_retry(eager_retries: None) -> None:
    user = household()
    report = report_generate(user_id=user.pk, now=NOW)
    FlakyBackend.calls = 0

    assert send_report_mail_task.apply(args=[report.pk]).get() == "sent"

    report.refresh_from_db()
    assert (report.mail_status, report.mail_attempts, report.mail_last_error) == ("sent", 2, "")
    assert len(mail.outbox) == 1


def test_hourly_run_queues_a_mail_whose_task_was_lost() -> None:
    user = household()
    report = report_generate(user_id=user.pk, now=NOW)  # on-commit task never ran
    Report.objects.filter(pk=report.pk).update(created_at=datetime(2024, 4, 2, 4, tzinfo=UTC))

    generate_due_reports_task.delay(datetime(2024, 4, 2, 6, tzinfo=UTC).isoformat())

    report.refresh_from_db()
    assert report.mail_status == "sent"
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        ("8.683", "5.000", ("↑", "+74 %", "5,00 kWh")),
        ("2.500", "5.000", ("↓", "\u221250 %", "5,00 kWh")),
        ("5.000", "5.000", ("→", "\u00b10 %", "5,00 kWh")),
        ("1.000", "0.000", ("↑", None, "0,00 kWh")),
    ],
)
def test_trend_arrows_and_percent(
    current: str, previous: str, expected: tuple[str, str | None, str]
) -> None:
    from reports.compute.formatting import format_kwh

    trend = trend_compute(
        current=Decimal(current), previous=Decimal(previous), write=format_kwh, language="de"
    )

    assert trend is not None
    assert (trend.arrow, trend.percent, trend.previous) == expected
    assert trend_compute(current=None, previous=Decimal(1), write=format_kwh, language="de") is None


def test_admin_preview_shows_the_mail_with_embedded_charts_to_staff_only(
    admin_user: User,
) -> None:
    user = household()
    report = report_generate(user_id=user.pk, now=NOW)
    url = reverse("admin:reports_report_mail_preview", args=[report.pk])
    staff = Client()
    staff.force_login(admin_user)
    household_client = Client()
    household_client.force_login(user)

    page = staff.get(url)
    change = staff.get(reverse("admin:reports_report_change", args=[report.pk])).content.decode()

    assert page.status_code == 200
    body = page.content.decode()
    assert "8,68 kWh" in body
    assert body.count('src="data:image/png;base64,') == 2
    assert url in change
    assert household_client.get(url).status_code == 302  # to the admin login
    assert Client().get(url).status_code == 302
    assert mail.outbox == []  # a preview sends nothing
    report.refresh_from_db()
    assert report.mail_status == "pending"


def test_admin_preview_of_a_report_edited_into_an_impossible_state_is_404_not_500(
    admin_user: User,
) -> None:
    report = report_generate(user_id=household().pk, now=NOW)
    Report.objects.filter(pk=report.pk).update(best_day=None, worst_day=None)
    staff = Client(raise_request_exception=False)
    staff.force_login(admin_user)

    page = staff.get(reverse("admin:reports_report_mail_preview", args=[report.pk]))

    assert page.status_code == 404


def test_admin_resend_mails_again_and_records_who_and_when(
    admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    user = household()
    report = build(user, NOW, django_capture_on_commit_callbacks)
    no_data = report_generate(user_id=UserFactory().pk, now=NOW)
    staff = Client()
    staff.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("admin:reports_report_changelist"),
            {"action": "resend_mails", "_selected_action": [report.pk, no_data.pk]},
        )

    assert response.status_code == 302
    assert len(mail.outbox) == 2
    report.refresh_from_db()
    assert (report.mail_status, report.mail_attempts) == ("sent", 1)
    [event] = AuditEvent.objects.filter(title="report/mail-resend")
    assert event.user_id == admin_user.pk
    assert event.details == {
        "report_id": report.pk,
        "household_user_id": user.pk,
        "previous_mail_status": "sent",
    }
    no_data.refresh_from_db()
    assert no_data.mail_status == "skipped"


def test_admin_pages_of_the_survey_models_open(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)

    for name in ("users_experimentstatustransition", "reports_surveyinvitation"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
