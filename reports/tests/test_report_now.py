""" "Generate my report now" (POST /api/v1/reports/generate): the household's current period,
the scheduled report's figures and mail, the rate limit, the audit record, the no-data answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from energyleaf.audit.models import AuditEvent
from energyleaf.users.models import Household, User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from reports.models import Report, ReportSettings
from reports.services.reports import report_generate
from sensors.models import Reading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
URL = "/api/v1/reports/generate"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _one_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's data, the request's period and the expected days all read one moment: a
    midnight in Berlin between two readings of the clock would move the period under the
    test (CI runs at any hour)."""
    moment = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: moment)


def yesterday_noon() -> datetime:
    today = timezone.now().astimezone(BERLIN).date()
    return datetime.combine(today - timedelta(days=1), time(12), tzinfo=BERLIN)


def household_with_data(*, language: str = "de") -> User:
    user = UserFactory(first_name="Alex")
    Household.objects.filter(user=user).update(
        working_price_per_kwh=Decimal("0.3000"), language=language
    )
    sensor = SensorFactory(user=user)
    Reading.objects.create(
        sensor=sensor,
        timestamp=yesterday_noon(),
        value=Decimal(1000),
        consumption=Decimal("2.5"),
    )
    return user


def post(user: User) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(URL)


def test_the_route_is_named() -> None:
    assert reverse("reports_api:report-generate") == URL


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("de", "Energyleaf: Bericht von", "Hallo Alex,\n\nhier ist Ihr Energiebericht"),
        ("en", "Energyleaf: report from", "Hello Alex,\n\nhere is your energy report"),
    ],
)
def test_builds_the_current_periods_report_and_mails_it_in_the_households_language(
    language: str,
    subject: str,
    phrase: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household_with_data(language=language)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(user)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    assert body["report"]["status"] == "ok"
    assert body["report"]["last_day"] == (yesterday_noon().date()).isoformat()
    assert body["report"]["total_consumption_kwh"] == 2.5
    assert body["report"]["total_cost_eur"] is not None
    assert [message.to for message in mail.outbox] == [[user.email]]
    assert mail.outbox[0].subject.startswith(subject)
    assert mail.outbox[0].body.startswith(phrase)
    report = Report.objects.get(user=user)
    assert report.mail_status == "sent"
    event = AuditEvent.objects.get(title="report/requested")
    assert event.user_id == user.pk
    assert event.details["report_id"] == report.pk
    assert event.details["created"] is True


def test_the_same_figures_as_the_scheduled_report(django_capture_on_commit_callbacks: Any) -> None:
    user = household_with_data()
    with django_capture_on_commit_callbacks(execute=True):
        on_request = post(user).json()["report"]
    other = household_with_data()
    scheduled = report_generate(user_id=other.pk, now=timezone.now())

    figures = ("total_consumption_kwh", "total_cost_eur", "first_day", "last_day", "best_day")
    assert {key: on_request[key] for key in figures} == {
        "total_consumption_kwh": float(scheduled.total_consumption_kwh or 0),
        "total_cost_eur": float(scheduled.total_cost_eur or 0),
        "first_day": scheduled.first_day.isoformat(),
        "last_day": scheduled.last_day.isoformat(),
        "best_day": scheduled.best_day.isoformat() if scheduled.best_day else None,
    }


def test_a_period_already_reported_is_answered_and_not_mailed_again(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household_with_data()
    with django_capture_on_commit_callbacks(execute=True):
        stored = report_generate(user_id=user.pk, now=timezone.now())
    assert len(mail.outbox) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = post(user)

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["report"]["id"]) == (False, stored.pk)
    assert body["mail_status"] == "sent"
    assert len(mail.outbox) == 1
    assert Report.objects.filter(user=user).count() == 1


def test_opted_out_household_gets_the_report_without_a_mail(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household_with_data()
    ReportSettings.objects.create(user=user, receive_mails=False)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(user)

    assert response.status_code == 201
    assert (response.json()["mail_status"], response.json()["mail_skip_reason"]) == (
        "skipped",
        "opted_out",
    )
    assert mail.outbox == []


def test_rate_limited_to_once_an_hour_per_household(
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = household_with_data()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(user).status_code == 201

    again = post(user)

    assert again.status_code == 429
    assert again.json()["code"] == "throttled"
    assert 0 < int(again["Retry-After"]) <= 3600
    assert Report.objects.filter(user=user).count() == 1
    assert AuditEvent.objects.filter(title__startswith="report/requested").count() == 1
    # Another household is not held back.
    with django_capture_on_commit_callbacks(execute=True):
        assert post(household_with_data()).status_code == 201


@override_settings(ENERGYLEAF_REPORT_NOW_RATE="3/hour")
def test_the_rate_is_a_setting(django_capture_on_commit_callbacks: Any) -> None:
    user = household_with_data()
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [post(user).status_code for _ in range(4)]
    assert statuses == [201, 200, 200, 429]


@pytest.mark.parametrize(("with_sensor", "reason"), [(False, "no_sensor"), (True, "no_readings")])
def test_no_data_is_answered_clearly_and_nothing_is_kept(with_sensor: bool, reason: str) -> None:
    user = UserFactory()
    if with_sensor:
        SensorFactory(user=user)
    settings_before = list(ReportSettings.objects.values())

    response = post(user)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "report_no_data"
    assert body["extra"]["reason"] == reason
    assert body["message"].startswith("No report for ")
    assert not Report.objects.exists()
    assert list(ReportSettings.objects.values()) == settings_before
    assert mail.outbox == []
    event = AuditEvent.objects.get(title="report/requested_no_data")
    assert (event.user_id, event.details["reason"]) == (user.pk, reason)


def test_an_account_without_household_gets_404_and_nothing_is_written() -> None:
    staff = StaffFactory()

    response = post(staff)

    assert response.status_code == 404
    assert response.json()["code"] == "no_household"
    assert not ReportSettings.objects.exists()
    assert not AuditEvent.objects.exists()


def test_anonymous_is_refused() -> None:
    assert APIClient().post(URL).status_code == 401
