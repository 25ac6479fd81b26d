from __future__ import annotations

import re
import smtplib
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import unquote

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from analytics.models import DeviceSuggestion, Sequence
from energyleaf.users.models import Household
from energyleaf.users.tests.factories import UserFactory
from reports.models import AnomalyNotification, MailSkipReason, MailStatus
from reports.services.anomaly_mails import anomaly_mails_send
from reports.services.unsubscribe import unsubscribe_apply
from reports.tasks import send_anomaly_mails_task
from sensors.models import Sensor
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
FAILING_SEND = "django.core.mail.backends.locmem.EmailBackend.send_messages"


def make_anomaly(
    sensor: Sensor,
    *,
    start: datetime = datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
    detected_at: datetime = NOW - timedelta(minutes=20),
    kind: str = Sequence.Kind.ANOMALY,
    average_power_w: float = 1234.4,
) -> Sequence:
    sequence = Sequence.objects.create(
        sensor=sensor,
        kind=kind,
        start=start,
        end=start + timedelta(minutes=15),
        average_power_w=average_power_w,
        average_peak_power_w=average_power_w - 200,
        energy_kwh=0.3,
    )
    Sequence.objects.filter(pk=sequence.pk).update(detected_at=detected_at)
    sequence.refresh_from_db()
    return sequence


def set_household(user, **fields) -> None:  # type: ignore[no-untyped-def]
    Household.objects.filter(user=user).update(**fields)


def test_german_is_the_default_wording_with_local_time_and_links():
    sensor = SensorFactory(user__first_name="Anna")
    sequence = make_anomaly(sensor)

    result = anomaly_mails_send(now=NOW)

    assert (result.created, result.sent) == (1, 1)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Ungewöhnlicher Verbrauch erkannt"
    assert message.to == [sensor.user.email]
    assert message.from_email == "Energyleaf <noreply@localhost>"
    assert "Hallo Anna," in message.body
    assert "am 01.07.2024, 12:00 CEST mit durchschnittlich 1.234 W" in message.body
    assert "Zur Übersicht: http://localhost:8000/" in message.body
    assert "http://localhost:8000/unsubscribe?token=" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Zur Übersicht</a>" in html
    assert "<strong>01.07.2024, 12:00 CEST</strong>" in html
    assert message.extra_headers["List-Unsubscribe"].startswith(
        "<http://localhost:8000/unsubscribe?token="
    )
    notification = AnomalyNotification.objects.get()
    assert notification.sequence == sequence
    assert notification.user == sensor.user
    assert (notification.mail_status, notification.mail_attempts, notification.mail_sent_at) == (
        MailStatus.SENT,
        1,
        NOW,
    )


def test_english_household_gets_english_wording_in_its_time_zone(settings):
    settings.ENERGYLEAF_APP_URL = "https://app.energyleaf.example"
    sensor = SensorFactory()
    set_household(sensor.user, language="en", time_zone="America/New_York")
    make_anomaly(sensor, average_power_w=2500.0)

    anomaly_mails_send(now=NOW)

    message = mail.outbox[0]
    assert message.subject == "Unusual consumption detected"
    assert "on 2024-07-01 06:00 EDT with 2,500 W on average" in message.body
    assert "Go to the overview: https://app.energyleaf.example/" in message.body
    assert "https://app.energyleaf.example/unsubscribe?token=" in message.body
    assert "Go to the overview</a>" in message.alternatives[0][0]


@pytest.mark.parametrize(
    ("case", "language", "subject"),
    [
        ("unknown_language_falls_back_to_german", "fr", "Ungewöhnlicher Verbrauch erkannt"),
        ("regional_english", "en-GB", "Unusual consumption detected"),
    ],
)
def test_language_fallback(case, language, subject):
    sensor = SensorFactory()
    set_household(sensor.user, language=language)
    make_anomaly(sensor)

    anomaly_mails_send(now=NOW)

    assert [m.subject for m in mail.outbox] == [subject]


def test_the_unsubscribe_link_in_the_mail_turns_off_anomaly_mails_for_that_user_only():
    sensor = SensorFactory()
    other = UserFactory()
    make_anomaly(sensor)
    anomaly_mails_send(now=NOW)
    token = unquote(re.search(r"unsubscribe\?token=(\S+)", mail.outbox[0].body).group(1))

    response = Client().post(reverse("reports:unsubscribe"), {"token": token})

    assert response.status_code == 200
    assert Household.objects.get(user=sensor.user).receive_anomaly_mails is False
    assert Household.objects.get(user=other).receive_anomaly_mails is True
    assert unsubscribe_apply(token=token) == sensor.user


def test_opted_out_household_is_skipped_and_recorded():
    sensor = SensorFactory()
    set_household(sensor.user, receive_anomaly_mails=False)
    make_anomaly(sensor)

    result = anomaly_mails_send(now=NOW)

    assert mail.outbox == []
    assert result.skipped_opted_out == 1
    notification = AnomalyNotification.objects.get()
    assert (
        notification.mail_status,
        notification.mail_skip_reason,
        notification.mail_attempts,
    ) == (
        MailStatus.SKIPPED,
        MailSkipReason.OPTED_OUT,
        0,
    )


def test_inactive_user_is_skipped():
    sensor = SensorFactory(user__is_active=False)
    make_anomaly(sensor)

    result = anomaly_mails_send(now=NOW)

    assert (mail.outbox, result.skipped_no_email) == ([], 1)


def test_at_most_one_mail_per_sensor_in_one_run():
    sensor = SensorFactory()
    first = make_anomaly(sensor, start=datetime(2024, 7, 1, 8, tzinfo=UTC))
    second = make_anomaly(sensor, start=datetime(2024, 7, 1, 10, tzinfo=UTC))
    other_sensor = SensorFactory()
    make_anomaly(other_sensor)

    result = anomaly_mails_send(now=NOW)

    assert (result.sent, result.skipped_rate_limited) == (2, 1)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [sensor.user.email, other_sensor.user.email]
    )
    assert first.anomaly_notification.mail_status == MailStatus.SENT
    second.refresh_from_db()
    assert AnomalyNotification.objects.get(sequence=second).mail_skip_reason == (
        MailSkipReason.RATE_LIMITED
    )


@pytest.mark.parametrize(
    ("case", "hours_since_last_mail", "mails"),
    [("within_24_hours", 23, 0), ("after_24_hours", 25, 1)],
)
def test_a_mail_sent_in_an_earlier_run_limits_the_sensor_for_24_hours(
    case, hours_since_last_mail, mails
):
    sensor = SensorFactory()
    earlier = NOW - timedelta(hours=hours_since_last_mail)
    make_anomaly(sensor, start=earlier - timedelta(hours=1), detected_at=earlier)
    anomaly_mails_send(now=earlier)
    mail.outbox.clear()
    make_anomaly(sensor)

    anomaly_mails_send(now=NOW)

    assert len(mail.outbox) == mails


def test_re_running_sends_nothing_twice():
    sensor = SensorFactory()
    make_anomaly(sensor)
    anomaly_mails_send(now=NOW)

    result = anomaly_mails_send(now=NOW + timedelta(minutes=30))

    assert len(mail.outbox) == 1
    assert (result.created, result.sent) == (0, 0)
    assert AnomalyNotification.objects.count() == 1


def test_old_anomalies_peaks_and_unassigned_sensors_are_not_mailed():
    sensor = SensorFactory()
    make_anomaly(sensor, detected_at=NOW - timedelta(hours=25))
    make_anomaly(sensor, kind=Sequence.Kind.PEAK, start=datetime(2024, 7, 1, 9, tzinfo=UTC))
    make_anomaly(SensorFactory(user=None))

    result = anomaly_mails_send(now=NOW)

    assert (mail.outbox, result.created) == ([], 0)
    assert not AnomalyNotification.objects.exists()


def test_smtp_failure_is_recorded_and_retried_on_the_next_run():
    sensor = SensorFactory()
    make_anomaly(sensor)
    with mock.patch(FAILING_SEND, side_effect=smtplib.SMTPServerDisconnected("gone")):
        result = anomaly_mails_send(now=NOW)

    assert (result.failed, mail.outbox) == (1, [])
    notification = AnomalyNotification.objects.get()
    assert (notification.mail_status, notification.mail_attempts, notification.mail_last_error) == (
        MailStatus.FAILED,
        1,
        "SMTPServerDisconnected: gone",
    )

    result = anomaly_mails_send(now=NOW + timedelta(minutes=30))

    assert result.sent == 1
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert (notification.mail_status, notification.mail_attempts, notification.mail_last_error) == (
        MailStatus.SENT,
        2,
        "",
    )


def test_gives_up_after_three_failed_attempts():
    sensor = SensorFactory()
    make_anomaly(sensor)
    with mock.patch(FAILING_SEND, side_effect=smtplib.SMTPException("no")) as send:
        outcomes = [anomaly_mails_send(now=NOW + timedelta(minutes=30 * i)) for i in range(4)]

    assert [(o.failed, o.gave_up) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert send.call_count == 3
    anomaly_mails_send(now=NOW + timedelta(hours=3))
    notification = AnomalyNotification.objects.get()
    assert (notification.mail_status, notification.mail_attempts, mail.outbox) == (
        MailStatus.FAILED,
        3,
        [],
    )


def test_task_calls_the_service():
    sensor = SensorFactory()
    make_anomaly(sensor, detected_at=datetime.now(tz=UTC) - timedelta(minutes=5))

    send_anomaly_mails_task.delay()

    assert len(mail.outbox) == 1
    assert send_anomaly_mails_task.name == "reports.send_anomaly_mails"


def test_admin_changelist_is_read_only(admin_client):
    make_anomaly(SensorFactory())
    anomaly_mails_send(now=NOW)

    response = admin_client.get(reverse("admin:reports_anomalynotification_changelist"))
    add = admin_client.get(reverse("admin:reports_anomalynotification_add"))

    assert response.status_code == 200
    assert add.status_code == 403


@pytest.mark.parametrize("arm", list(Household.AppVersion))
@pytest.mark.parametrize(
    ("language", "subject"),
    [("de", "Ungewöhnlicher Verbrauch erkannt"), ("en", "Unusual consumption detected")],
)
def test_anomaly_mail_wording_is_the_same_in_every_arm_and_names_no_suggestion(
    settings, arm, language, subject
):
    # Suggestions are shown only to the arms of ENERGYLEAF_SUGGESTION_ARMS (docs/classifier.md);
    # the anomaly mail lists none in any arm, so its wording does not depend on the arm.
    settings.ENERGYLEAF_SUGGESTION_ARMS = ("support",)
    sensor = SensorFactory()
    set_household(sensor.user, language=language, app_version=arm)
    sequence = make_anomaly(sensor)
    DeviceSuggestion.objects.create(
        sequence=sequence, category="kettle", probability=0.9, model_version="v1"
    )

    anomaly_mails_send(now=NOW)

    [message] = mail.outbox
    assert message.subject == subject
    assert "kettle" not in message.body.lower()
    assert "kettle" not in message.alternatives[0][0].lower()
