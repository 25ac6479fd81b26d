"""The staff daily digest: each section appears exactly when its condition holds, nothing is sent
when there is nothing to say, a day's digest reaches each support staff member once (retries
included), the thresholds follow the settings, and the beat entry exists.

Real database rows throughout; only the SMTP transport is replaced where a failure is needed
(the locmem backend of the test settings records every sent mail)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.celery import app
from energyleaf.schedule import default_entry
from energyleaf.users.models import User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from exports.models import ExportJob
from exports.services.dataset import MAX_ATTEMPTS as EXPORT_MAX_ATTEMPTS
from exports.services.dataset import export_job_run
from exports.tests.factories import ExportJobFactory
from reports.compute.digest import (
    DigestLine,
    DigestSection,
    format_duration,
    refusals_unusual,
    section_build,
)
from reports.models import MailStatus, StaffDigest, StaffDigestMail
from reports.services.anomaly_mails import ANOMALY_MAIL
from reports.services.outbox import MAIL_FAILED_TITLE, mail_deliver
from reports.services.staff_digest import staff_digest_sections, staff_digest_send
from reports.tasks import send_staff_digest_task
from reports.tests.factories import AnomalyNotificationFactory, StaffDigestMailFactory
from sensors.models import MeterEvent, RejectedReading, Sensor, SensorAssignment
from sensors.tests.factories import (
    MeterEventFactory,
    RejectedReadingFactory,
    SensorFactory,
    make_readings,
)

pytestmark = pytest.mark.django_db

FAILING_SEND = "django.core.mail.backends.locmem.EmailBackend.send_messages"
APP_URL = "https://energyleaf.example.org/"


@pytest.fixture(autouse=True)
def _digest_settings(settings: Any) -> None:
    settings.ENERGYLEAF_APP_URL = APP_URL
    settings.ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS = 6
    settings.ENERGYLEAF_DIGEST_REFUSALS_MIN = 50
    settings.ENERGYLEAF_DIGEST_REFUSALS_PERCENT = 5.0


def _now() -> datetime:
    # The rows' own "recorded at" columns (received_at, created_at, audit timestamp) take the
    # clock's time, so the digest runs at the clock's time too.
    return timezone.now()


def _sections(now: datetime) -> dict[str, DigestSection]:
    return {
        section.key: section
        for section in staff_digest_sections(since=now - timedelta(hours=24), until=now)
    }


def _silent_sensor(*, hours: float, now: datetime, **kwargs: object) -> Sensor:
    """A sensor of an active household, registered 30 days ago, whose last reading is `hours`
    old."""
    sensor = _registered_long_ago(SensorFactory(**kwargs))
    make_readings(sensor, 3, start=now - timedelta(hours=hours, seconds=30))
    return sensor


def _registered_long_ago(sensor: Sensor) -> Sensor:
    Sensor.objects.filter(pk=sensor.pk).update(created_at=timezone.now() - timedelta(days=30))
    return sensor


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """Eager tasks keep their retries and record the outcome instead of raising it."""
    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = propagates


@pytest.fixture
def support() -> User:
    return StaffFactory(roles=["support"], email="support@example.org")


# --- nothing to say ------------------------------------------------------------------------------


def test_nothing_to_say_sends_nothing_and_stores_nothing(support: User) -> None:
    healthy = _silent_sensor(hours=1, now=_now())
    RejectedReadingFactory.create_batch(3, sensor=healthy)  # a few refusals: usual
    # Errors that are not failed background work: a refused login (the web).
    audit_event_record(
        title="auth/login-throttled",
        app_function="login",
        log_type=AuditEvent.LogType.ERROR,
        app_component=AuditEvent.Component.WEB,
    )

    result = staff_digest_send(now=_now())

    assert result.digest_id is None
    assert not StaffDigest.objects.exists()
    assert not StaffDigestMail.objects.exists()
    assert mail.outbox == []


# --- silent sensors ------------------------------------------------------------------------------


def test_a_sensor_silent_longer_than_the_setting_is_listed_with_its_admin_link(
    support: User,
) -> None:
    now = _now()
    silent = _silent_sensor(hours=7, now=now)
    _silent_sensor(hours=5, now=now)  # not yet silent for 6 h

    section = _sections(now)["silent"]

    assert section.count == 1
    (line,) = section.lines
    assert line.text.startswith(f"{silent.client_id} (sensor {silent.pk}, electricity)")
    assert "7 h 0 min ago" in line.text
    assert line.url == f"{APP_URL}admin/sensors/sensor/{silent.pk}/change/"


def test_only_sensors_of_active_households_count_as_silent(support: User) -> None:
    now = _now()
    _silent_sensor(hours=30, now=now, user=UserFactory(is_active=False))
    unassigned = SensorFactory(user=None)
    make_readings(unassigned, 2, start=now - timedelta(days=3))
    never_sent = SensorFactory()  # registered and assigned 8 h ago, never sent anything: silent
    Sensor.objects.filter(pk=never_sent.pk).update(created_at=now - timedelta(hours=8))
    new = SensorFactory()  # registered (its period starts in 2000) an hour ago: grace time
    Sensor.objects.filter(pk=new.pk).update(created_at=now - timedelta(hours=1))
    moved = _silent_sensor(hours=30, now=now)  # reassigned an hour ago: grace time
    SensorAssignment.objects.filter(sensor=moved).update(valid_from=now - timedelta(hours=1))

    section = _sections(now)["silent"]

    assert [line.text.split(" ")[0] for line in section.lines] == [never_sent.client_id]
    assert "no reading since it was assigned" in section.lines[0].text
    assert section.lines[0].text.endswith(", 8 h 0 min ago")


def test_the_silent_threshold_follows_the_setting(support: User, settings: Any) -> None:
    now = _now()
    _silent_sensor(hours=7, now=now)

    settings.ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS = 12
    assert _sections(now)["silent"].count == 0
    assert staff_digest_send(now=now).digest_id is None

    settings.ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS = 6
    section = _sections(now)["silent"]
    assert section.count == 1
    assert section.note == "no reading for more than 6 h"


# --- meter events --------------------------------------------------------------------------------


def test_meter_events_recorded_in_the_window_are_listed(support: User) -> None:
    new = MeterEventFactory()
    old = MeterEventFactory()
    now = _now()
    MeterEvent.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=25))

    section = _sections(now)["meter_events"]

    assert section.count == 1
    (line,) = section.lines
    assert line.text == (
        f"{new.sensor.client_id} (sensor {new.sensor_id}): replacement at 2024-07-01 00:00 UTC, "
        "register 12345 → 0.5"
    )
    assert line.url == f"{APP_URL}admin/sensors/meterevent/{new.pk}/change/"


def test_a_run_later_in_its_day_reaches_back_to_where_the_previous_digest_ended(
    support: User,
) -> None:
    """Yesterday's digest ran at 06:30; today's runs at 09:00 (a delayed task). A meter event
    of yesterday 07:00 is in neither 24-hour window, so today's window starts at 06:30."""
    now = _now()
    previous_end = now - timedelta(hours=26, minutes=30)
    StaffDigest.objects.create(
        day=previous_end.date(),
        window_start=previous_end - timedelta(hours=24),
        window_end=previous_end,
        sections=[],
    )
    between = MeterEventFactory()
    MeterEvent.objects.filter(pk=between.pk).update(created_at=now - timedelta(hours=26))

    result = staff_digest_send(now=now)

    digest = StaffDigest.objects.get(pk=result.digest_id)
    assert digest.window_start == previous_end
    meter = next(section for section in digest.sections if section["key"] == "meter_events")
    assert meter["count"] == 1


def test_the_window_never_reaches_back_more_than_48_hours(support: User) -> None:
    now = _now()
    old_end = now - timedelta(days=5)
    StaffDigest.objects.create(
        day=old_end.date(), window_start=old_end - timedelta(days=1), window_end=old_end
    )
    _silent_sensor(hours=8, now=now)

    digest = StaffDigest.objects.get(pk=staff_digest_send(now=now).digest_id)

    assert digest.window_start == now - timedelta(hours=48)


# --- failed jobs ---------------------------------------------------------------------------------


def test_a_failed_export_job_is_listed_as_a_failed_job(support: User) -> None:
    job = ExportJobFactory(status=ExportJob.Status.RUNNING, attempts=EXPORT_MAX_ATTEMPTS)
    assert export_job_run(job_id=job.pk) is None  # gives up: the worker died too often
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    old = audit_event_record(
        title="exports/export-failed",
        app_function="export_job_run",
        log_type=AuditEvent.LogType.ERROR,
        app_component=AuditEvent.Component.WORKER,
        details={"job": 999},
    )
    AuditEvent.objects.filter(pk=old.pk).update(timestamp=_now() - timedelta(hours=30))
    now = _now()

    section = _sections(now)["failed_jobs"]

    assert section.count == 1
    (line,) = section.lines
    assert f"exports/export-failed: job {job.pk}, Gave up after" in line.text
    event = AuditEvent.objects.get(title="exports/export-failed", details__job=job.pk)
    assert line.url == f"{APP_URL}admin/audit/auditevent/{event.pk}/change/"
    assert _sections(now)["failed_mails"].count == 0


# --- failed mails --------------------------------------------------------------------------------


def test_a_failed_mail_is_listed_once_with_its_latest_failure(support: User) -> None:
    notification = AnomalyNotificationFactory()
    delivered = AnomalyNotificationFactory()
    now = _now()
    with mock.patch(FAILING_SEND, side_effect=smtplib.SMTPServerDisconnected("gone")):
        assert mail_deliver(kind=ANOMALY_MAIL, row_id=notification.pk, now=now).name == "failed"
        assert mail_deliver(kind=ANOMALY_MAIL, row_id=notification.pk, now=now).name == "failed"
    assert mail_deliver(kind=ANOMALY_MAIL, row_id=delivered.pk, now=now).name == "sent"
    assert AuditEvent.objects.filter(title=MAIL_FAILED_TITLE).count() == 2

    section = _sections(_now())["failed_mails"]

    assert section.count == 1
    (line,) = section.lines
    assert line.text.startswith(
        f"anomaly_mail {notification.pk}: 2 attempts, will be tried again, last "
    )
    assert line.text.endswith(": SMTPServerDisconnected: gone")
    assert line.url == f"{APP_URL}admin/reports/anomalynotification/{notification.pk}/change/"
    assert _sections(_now())["failed_jobs"].count == 0


def test_a_mail_given_up_says_so() -> None:
    notification = AnomalyNotificationFactory()
    now = _now()
    with mock.patch(FAILING_SEND, side_effect=smtplib.SMTPException("no")):
        outcomes = [
            mail_deliver(kind=ANOMALY_MAIL, row_id=notification.pk, now=now).name for _ in range(3)
        ]
    assert outcomes == ["failed", "failed", "gave_up"]

    (line,) = _sections(_now())["failed_mails"].lines

    assert "3 attempts, gave up" in line.text


# --- unusual refusals ----------------------------------------------------------------------------


def test_refusals_are_unusual_from_the_minimum_and_the_share_on(
    support: User, settings: Any
) -> None:
    start = _now()
    many = SensorFactory()  # 60 refused of 160 sent: unusual
    RejectedReadingFactory.create_batch(60, sensor=many)
    make_readings(many, 100, start=start - timedelta(hours=2))
    busy = SensorFactory()  # 60 refused of 2,060 sent (2.9 %): usual
    RejectedReadingFactory.create_batch(60, sensor=busy)
    make_readings(busy, 2000, start=start - timedelta(hours=10))
    few = SensorFactory()  # 10 refused of 20 sent: below the minimum
    RejectedReadingFactory.create_batch(10, sensor=few)
    make_readings(few, 10, start=start - timedelta(hours=1))
    resolved = SensorFactory()  # refusals resolved later (a meter replacement): not counted
    RejectedReadingFactory.create_batch(60, sensor=resolved, resolved_at=start)
    stale = SensorFactory()  # refused the day before
    RejectedReadingFactory.create_batch(60, sensor=stale)
    now = _now()
    RejectedReading.objects.filter(sensor=stale).update(received_at=now - timedelta(hours=25))

    section = _sections(now)["refusals"]

    assert section.count == 1
    (line,) = section.lines
    assert line.text == (
        f"{many.client_id} (sensor {many.pk}): 60 refused, 100 stored (37.5 % refused), "
        "mostly value_decreased"
    )
    assert line.url.startswith(f"{APP_URL}admin/sensors/rejectedreading/?q=")

    settings.ENERGYLEAF_DIGEST_REFUSALS_MIN = 10
    settings.ENERGYLEAF_DIGEST_REFUSALS_PERCENT = 2.5
    assert {line.text.split(" ")[0] for line in _sections(now)["refusals"].lines} == {
        many.client_id,
        busy.client_id,
        few.client_id,
    }


def test_the_unusual_rule_at_its_edges() -> None:
    assert refusals_unusual(refused=50, stored=950, minimum=50, percent=5)  # exactly 5 %
    assert not refusals_unusual(refused=50, stored=951, minimum=50, percent=5)
    assert not refusals_unusual(refused=49, stored=0, minimum=50, percent=5)
    assert not refusals_unusual(refused=0, stored=0, minimum=0, percent=0)


# --- recipients and sending ----------------------------------------------------------------------


def test_support_staff_alone_receive_it(support: User) -> None:
    now = _now()
    _silent_sensor(hours=8, now=now)
    StaffFactory(email="no-group@example.org")
    StaffFactory(roles=["researcher"], email="researcher@example.org")
    StaffFactory(roles=["support"], email="gone@example.org", is_active=False)
    StaffFactory(roles=["support"], email="")
    UserFactory(email="household@example.org")
    UserFactory(email="superuser@example.org", is_staff=True, is_superuser=True)
    both = StaffFactory(roles=["support", "administrator"], email="both@example.org")
    UserFactory(email="not-staff@example.org").groups.add(*support.groups.all())

    result = staff_digest_send(now=now)

    assert sorted(message.to[0] for message in mail.outbox) == [both.email, support.email]
    assert result.created == 2
    assert result.sent == 2


def test_the_mail_lists_counts_then_the_sections_with_news(support: User) -> None:
    now = datetime(2026, 12, 5, 6, 30, tzinfo=UTC)
    silent = _registered_long_ago(SensorFactory())
    make_readings(silent, 2, start=now - timedelta(hours=9))

    staff_digest_send(now=now)

    (message,) = mail.outbox
    assert message.subject == "Energyleaf staff digest 2026-12-05: silent sensors 1"
    body = message.body
    assert body.startswith(
        "Energyleaf staff digest, 2026-12-04 06:30 UTC to 2026-12-05 06:30 UTC\n"
    )
    counts = body.split("\n\n")[1]
    assert counts.splitlines() == [
        "Silent sensors: 1",
        "Meter events: 0",
        "Failed jobs: 0",
        "Failed mails: 0",
        "Unusual refusals: 0",
    ]
    assert "== Silent sensors: 1 (no reading for more than 6 h)" in body
    assert f"- {silent.client_id} (sensor {silent.pk}, electricity): last reading" in body
    assert f"  {APP_URL}admin/sensors/sensor/{silent.pk}/change/" in body
    assert "== Meter events" not in body
    assert f"Back office: {APP_URL}admin/" in body
    assert "&amp;" not in body


def test_a_long_section_is_cut_with_a_link_to_all(support: User) -> None:
    section = section_build(
        key="silent",
        title="Silent sensors",
        lines=[DigestLine(f"sensor {n}") for n in range(40)],
        more_url="https://x.example.org/all",
        limit=30,
    )
    assert (section.count, len(section.lines), section.more) == (40, 30, 10)
    assert DigestSection.from_json(section.as_json()) == section
    assert format_duration(timedelta(days=3, hours=4, minutes=5)) == "3 d 4 h"
    assert format_duration(timedelta(minutes=45)) == "45 min"


def test_a_second_run_of_the_day_sends_nothing_more(support: User) -> None:
    now = _now()
    _silent_sensor(hours=8, now=now)

    first = staff_digest_send(now=now)
    MeterEventFactory()  # news after the first run: the day's digest stays as it was
    # Ten minutes later, but never past midnight UTC: a run at 23:55 would start the next day's.
    end_of_day = datetime.combine(now.date(), time.max, tzinfo=UTC)
    second = staff_digest_send(now=min(now + timedelta(minutes=10), end_of_day))

    assert first.sent == 1
    assert second.digest_id == first.digest_id
    assert (second.created, second.sent) == (0, 0)
    assert len(mail.outbox) == 1
    digest = StaffDigest.objects.get()
    assert [section["count"] for section in digest.sections] == [1, 0, 0, 0, 0]
    assert digest.window_end == now


def test_a_retry_sends_only_what_failed_and_reaches_staff_who_joined_since(
    support: User,
) -> None:
    now = _now()
    _silent_sensor(hours=8, now=now)
    other = StaffFactory(roles=["support"], email="other@example.org")
    sent_to_other = {"done": False}
    real_send = mail.get_connection().__class__.send_messages

    def fail_for_support(self, messages):  # type: ignore[no-untyped-def]
        if messages[0].to == [support.email]:
            raise smtplib.SMTPServerDisconnected("gone")
        sent_to_other["done"] = True
        return real_send(self, messages)

    with mock.patch(FAILING_SEND, fail_for_support):
        first = staff_digest_send(now=now)
    assert (first.sent, first.failed) == (1, 1)
    assert sent_to_other["done"]
    late = StaffFactory(roles=["support"], email="late@example.org")

    retry = staff_digest_send(now=now)

    assert (retry.created, retry.sent, retry.failed) == (1, 2, 0)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [other.email, support.email, late.email]
    )
    row = StaffDigestMail.objects.get(user=support)
    assert (row.mail_status, row.mail_attempts) == (MailStatus.SENT, 2)


def test_the_task_retries_a_failed_mail_for_the_same_day(
    support: User, eager_retries: None
) -> None:
    now = _now()
    _silent_sensor(hours=8, now=now)
    real_send = mail.get_connection().__class__.send_messages
    calls = {"count": 0}

    def fail_once(self, messages):  # type: ignore[no-untyped-def]
        calls["count"] += 1
        if calls["count"] == 1:
            raise smtplib.SMTPServerDisconnected("gone")
        return real_send(self, messages)

    with mock.patch(FAILING_SEND, fail_once):
        send_staff_digest_task.apply(kwargs={"now": now.isoformat()})  # eager: retries at once

    assert len(mail.outbox) == 1
    row = StaffDigestMail.objects.get()
    assert (row.mail_status, row.mail_attempts) == (MailStatus.SENT, 2)
    assert StaffDigest.objects.get().day == now.astimezone(UTC).date()


def test_a_mail_is_stamped_with_when_it_was_sent_not_with_the_digests_moment(
    support: User,
) -> None:
    now = _now()
    _silent_sensor(hours=8, now=now)
    earlier = now - timedelta(minutes=15)  # a retry runs later with the first run's moment

    staff_digest_send(now=earlier)

    row = StaffDigestMail.objects.get()
    assert row.mail_sent_at is not None
    assert row.mail_sent_at >= now


def test_the_task_gives_up_after_the_attempt_limit(support: User, eager_retries: None) -> None:
    now = _now()
    _silent_sensor(hours=8, now=now)

    with mock.patch(FAILING_SEND, side_effect=smtplib.SMTPException("no")):
        result = send_staff_digest_task.apply(kwargs={"now": now.isoformat()}).get()

    row = StaffDigestMail.objects.get()
    assert (row.mail_status, row.mail_attempts) == (MailStatus.FAILED, 3)
    assert result["gave_up"] == 1
    assert mail.outbox == []


def test_a_recipient_deactivated_before_sending_is_skipped() -> None:
    row = StaffDigestMailFactory()
    User.objects.filter(pk=row.user_id).update(is_active=False)
    digest_day = row.digest.day
    assert isinstance(digest_day, date)

    outcome = staff_digest_send(now=datetime.combine(digest_day, datetime.min.time(), UTC))

    row.refresh_from_db()
    assert outcome.skipped_no_email == 1
    assert (row.mail_status, row.mail_skip_reason) == (MailStatus.SKIPPED, "no_email")
    assert mail.outbox == []


# --- schedule and admin --------------------------------------------------------------------------


def test_the_beat_entry_is_seeded_and_names_a_registered_task() -> None:
    entry = default_entry("staff-digest")
    assert (entry.task, entry.minute, entry.hour) == ("reports.send_staff_digest", "30", "6")
    stored = PeriodicTask.objects.select_related("crontab").get(name="staff-digest")
    assert stored.task == entry.task
    assert stored.crontab is not None
    assert (stored.crontab.minute, stored.crontab.hour) == ("30", "6")
    app.loader.import_default_modules()
    assert entry.task in app.tasks


def test_the_admin_lists_the_digest_mails(admin_client_logged_in) -> None:  # type: ignore[no-untyped-def]
    row = StaffDigestMailFactory()
    listing = admin_client_logged_in.get(reverse("admin:reports_staffdigestmail_changelist"))
    page = admin_client_logged_in.get(
        reverse("admin:reports_staffdigestmail_change", args=[row.pk])
    )
    assert listing.status_code == 200
    assert row.user.email in listing.content.decode()
    assert page.status_code == 200
    assert "Silent sensors: 1" in page.content.decode()


def test_every_link_of_a_digest_opens_an_admin_page(admin_client_logged_in) -> None:  # type: ignore[no-untyped-def]
    start = _now()
    _silent_sensor(hours=8, now=start)
    MeterEventFactory()
    many = SensorFactory()
    RejectedReadingFactory.create_batch(60, sensor=many)
    notification = AnomalyNotificationFactory()
    with mock.patch(FAILING_SEND, side_effect=smtplib.SMTPException("no")):
        mail_deliver(kind=ANOMALY_MAIL, row_id=notification.pk, now=start)
    audit_event_record(
        title="exports/export-failed",
        app_function="export_job_run",
        log_type=AuditEvent.LogType.ERROR,
        app_component=AuditEvent.Component.WORKER,
        details={"job": 1, "error": "OSError: disk full"},
    )
    sections = list(_sections(_now()).values())
    assert all(section.count == 1 for section in sections)

    urls = [section.more_url for section in sections]
    urls += [line.url for section in sections for line in section.lines]
    for url in urls:
        assert url.startswith(APP_URL)
        response = admin_client_logged_in.get("/" + url.removeprefix(APP_URL))
        assert (url, response.status_code) == (url, 200)
        assert "e=1" not in response.get("Location", "")
