"""Test data for reports: anomaly mails, report settings, reports with their days, survey
invitations, staff digests and their mails."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from analytics.tests.factories import SequenceFactory
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from reports.models import (
    AnomalyNotification,
    MailStatus,
    Report,
    ReportDay,
    ReportSettings,
    StaffDigest,
    StaffDigestMail,
    SurveyInvitation,
)


class AnomalyNotificationFactory(DjangoModelFactory[AnomalyNotification]):
    """The pending mail of an anomaly of the user's sensor."""

    class Meta:
        model = AnomalyNotification

    sequence = factory.SubFactory(SequenceFactory, kind="anomaly")
    sensor = factory.SelfAttribute("sequence.sensor")
    user = factory.SelfAttribute("sequence.sensor.user")
    mail_status = MailStatus.PENDING


class ReportSettingsFactory(DjangoModelFactory[ReportSettings]):
    class Meta:
        model = ReportSettings

    user = factory.SubFactory(UserFactory)
    interval_days = 3
    local_hour = 6


class ReportFactory(DjangoModelFactory[Report]):
    """A one-day report of a Berlin household (consecutive days from 2024-07-01), mail pending."""

    class Meta:
        model = Report

    user = factory.SubFactory(UserFactory)
    first_day = factory.Sequence(lambda n: date(2024, 7, 1) + timedelta(days=n))
    last_day = factory.SelfAttribute("first_day")
    time_zone = "Europe/Berlin"
    # Berlin is UTC+2 in July: the local day starts at 22:00 UTC the day before.
    period_start = factory.LazyAttribute(
        lambda o: datetime.combine(o.first_day, datetime.min.time(), UTC) - timedelta(hours=2)
    )
    period_end = factory.LazyAttribute(
        lambda o: datetime.combine(o.last_day, datetime.min.time(), UTC) + timedelta(hours=22)
    )
    total_consumption_kwh = Decimal("3.000")
    average_daily_consumption_kwh = Decimal("3.000")
    mail_status = MailStatus.PENDING


class ReportDayFactory(DjangoModelFactory[ReportDay]):
    class Meta:
        model = ReportDay

    report = factory.SubFactory(ReportFactory)
    day = factory.SelfAttribute("report.first_day")
    consumption_kwh = Decimal("3.000")


class SurveyInvitationFactory(DjangoModelFactory[SurveyInvitation]):
    class Meta:
        model = SurveyInvitation

    user = factory.SubFactory(UserFactory, is_participant=True)
    survey_number = 2
    survey_id = factory.Faker("bothify", text="survey-####")
    link = factory.LazyAttribute(lambda o: f"https://survey.example.org/{o.survey_id}")
    mail_status = MailStatus.PENDING
    created_at = factory.LazyFunction(timezone.now)


class StaffDigestFactory(DjangoModelFactory[StaffDigest]):
    """The digest of a day (the n-th day after 2026-01-01) with one silent sensor."""

    class Meta:
        model = StaffDigest

    day = factory.Sequence(lambda n: date(2026, 1, 1) + timedelta(days=n))
    window_end = factory.LazyAttribute(
        lambda o: datetime(o.day.year, o.day.month, o.day.day, 6, 30, tzinfo=UTC)
    )
    window_start = factory.LazyAttribute(lambda o: o.window_end - timedelta(hours=24))
    sections = factory.LazyFunction(
        lambda: [
            {
                "key": "silent",
                "title": "Silent sensors",
                "count": 1,
                "lines": [{"text": "AA:BB:CC:00:00:01 (sensor 1, electricity)", "url": ""}],
                "more_url": "",
                "note": "no reading for more than 6 h",
            }
        ]
    )


class StaffDigestMailFactory(DjangoModelFactory[StaffDigestMail]):
    """The pending mail of a digest to a support staff member."""

    class Meta:
        model = StaffDigestMail

    digest = factory.SubFactory(StaffDigestFactory)
    user = factory.SubFactory(StaffFactory, roles=["support"])
    mail_status = MailStatus.PENDING
