"""The mail outbox: one status machine and one send-and-record for every mail kind (a test kind
over survey invitations stands for any kind), the field names the three mail rows share, the
admin's field order and the resend."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from energyleaf.audit.models import AuditEvent
from energyleaf.users.models import User
from energyleaf.users.tests.factories import UserFactory
from reports.admin import ReportAdmin
from reports.models import (
    AnomalyNotification,
    MailDelivery,
    MailSkipReason,
    MailStatus,
    Report,
    SurveyInvitation,
)
from reports.services.anomaly_mails import ANOMALY_MAIL
from reports.services.outbox import MailKind, MailOutcome, mail_deliver, mail_resend
from reports.services.report_mails import REPORT_MAIL
from reports.services.surveys import SURVEY_INVITATION

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 20, 6, 15, tzinfo=UTC)
FAILING_SEND = "django.core.mail.backends.locmem.EmailBackend.send_messages"


def invitation(**fields: Any) -> SurveyInvitation:
    user = fields.pop("user", None) or UserFactory()
    return SurveyInvitation.objects.create(
        user=user,
        survey_number=2,
        survey_id="s2",
        link="https://surveys.example.org/s2",
        created_at=NOW - timedelta(hours=1),
        **fields,
    )


def compose_hello(row: SurveyInvitation, now: datetime) -> EmailMessage | MailSkipReason:
    return EmailMessage(subject="Hallo", body=f"sent at {now.isoformat()}", to=[row.user.email])


def kind(**overrides: Any) -> MailKind[SurveyInvitation]:
    values: dict[str, Any] = {
        "name": "test_mail",
        "label": "invitation",
        "model": SurveyInvitation,
        "compose": compose_hello,
        "select_related": ("user",),
        "max_attempts": 2,
    }
    return MailKind(**{**values, **overrides})


def test_a_due_mail_is_sent_once_and_recorded() -> None:
    row = invitation()

    outcomes = [mail_deliver(kind=kind(), row_id=row.pk, now=NOW) for _ in range(3)]

    assert outcomes == [MailOutcome("sent"), MailOutcome("not_due"), MailOutcome("not_due")]
    assert [m.subject for m in mail.outbox] == ["Hallo"]
    row.refresh_from_db()
    assert (row.mail_status, row.mail_attempts, row.mail_sent_at, row.mail_last_error) == (
        MailStatus.SENT,
        1,
        NOW,
        "",
    )


def test_a_skip_reason_is_recorded_and_nothing_is_sent_or_counted() -> None:
    row = invitation()

    outcome = mail_deliver(
        kind=kind(compose=lambda row, now: MailSkipReason.NO_EMAIL), row_id=row.pk, now=NOW
    )

    assert (outcome.name, outcome.handled, mail.outbox) == ("skipped_no_email", True, [])
    row.refresh_from_db()
    assert (row.mail_status, row.mail_skip_reason, row.mail_attempts, row.mail_sent_at) == (
        MailStatus.SKIPPED,
        MailSkipReason.NO_EMAIL,
        0,
        None,
    )
    assert mail_deliver(kind=kind(), row_id=row.pk, now=NOW).name == "not_due"


def test_a_transport_error_is_recorded_returned_and_retried_up_to_the_limit() -> None:
    row = invitation()
    error = smtplib.SMTPServerDisconnected("gone")

    with mock.patch(FAILING_SEND, side_effect=error) as send:
        outcomes = [mail_deliver(kind=kind(), row_id=row.pk, now=NOW) for _ in range(3)]

    assert outcomes == [
        MailOutcome("failed", error),
        MailOutcome("gave_up", error),
        MailOutcome("not_due"),
    ]
    assert send.call_count == 2
    row.refresh_from_db()
    assert (row.mail_status, row.mail_attempts, row.mail_last_error) == (
        MailStatus.FAILED,
        2,
        "SMTPServerDisconnected: gone",
    )


def test_without_an_attempt_limit_a_failed_mail_stays_due_and_a_later_send_clears_the_error() -> (
    None
):
    row = invitation()
    with mock.patch(FAILING_SEND, side_effect=OSError("refused")):
        for _ in range(3):
            mail_deliver(kind=kind(max_attempts=None), row_id=row.pk, now=NOW)

    outcome = mail_deliver(kind=kind(max_attempts=None), row_id=row.pk, now=NOW)

    row.refresh_from_db()
    assert (outcome.name, row.mail_status, row.mail_attempts, row.mail_last_error) == (
        "sent",
        MailStatus.SENT,
        4,
        "",
    )


def test_a_row_that_does_not_exist_is_missing() -> None:
    outcome = mail_deliver(kind=kind(), row_id=987654, now=NOW)

    assert (outcome, outcome.handled, mail.outbox) == (MailOutcome("missing"), False, [])


def test_an_error_while_composing_records_nothing() -> None:
    row = invitation()

    def broken(row: SurveyInvitation, now: datetime) -> EmailMessage:
        raise RuntimeError("template missing")

    with pytest.raises(RuntimeError, match="template missing"):
        mail_deliver(kind=kind(compose=broken), row_id=row.pk, now=NOW)

    row.refresh_from_db()
    assert (row.mail_status, row.mail_attempts) == (MailStatus.PENDING, 0)


@pytest.mark.parametrize(
    ("case", "status", "attempts", "max_attempts", "due"),
    [
        ("pending", MailStatus.PENDING, 0, 3, True),
        ("failed_below_limit", MailStatus.FAILED, 2, 3, True),
        ("failed_at_limit", MailStatus.FAILED, 3, 3, False),
        ("failed_without_limit", MailStatus.FAILED, 9, None, True),
        ("sent", MailStatus.SENT, 1, None, False),
        ("skipped", MailStatus.SKIPPED, 0, None, False),
    ],
)
def test_the_due_rule_is_the_same_in_python_and_in_the_database(
    case: str, status: str, attempts: int, max_attempts: int | None, due: bool
) -> None:
    fields: dict[str, Any] = {"mail_status": status, "mail_attempts": attempts}
    if status == MailStatus.SENT:
        fields["mail_sent_at"] = NOW
    if status == MailStatus.SKIPPED:
        fields["mail_skip_reason"] = MailSkipReason.OPTED_OUT
    row = invitation(**fields)

    in_database = SurveyInvitation.objects.filter(
        SurveyInvitation.mail_due_filter(max_attempts=max_attempts), pk=row.pk
    ).exists()

    assert (row.mail_is_due(max_attempts=max_attempts), in_database) == (due, due)


@pytest.mark.parametrize(
    ("case", "fields"),
    [
        ("skipped_without_reason", {"mail_status": MailStatus.SKIPPED}),
        (
            "reason_without_skip",
            {"mail_status": MailStatus.PENDING, "mail_skip_reason": MailSkipReason.OPTED_OUT},
        ),
        ("sent_without_time", {"mail_status": MailStatus.SENT}),
    ],
)
def test_the_database_refuses_impossible_mail_states(case: str, fields: dict[str, Any]) -> None:
    user = UserFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        invitation(user=user, **fields)

    assert not SurveyInvitation.objects.filter(user=user).exists()


def test_the_three_mail_kinds_share_one_set_of_fields_and_one_outbox() -> None:
    def described(model: type[MailDelivery]) -> list[tuple[str, str, Any]]:
        return [
            (name, type(field).__name__, field.choices)
            for name in MailDelivery.MAIL_FIELDS
            for field in [model._meta.get_field(name)]
        ]

    assert described(Report) == described(AnomalyNotification) == described(SurveyInvitation)
    assert [k.model for k in (REPORT_MAIL, ANOMALY_MAIL, SURVEY_INVITATION)] == [
        Report,
        AnomalyNotification,
        SurveyInvitation,
    ]


def test_resend_sets_rows_back_to_pending_records_the_admin_and_enqueues(
    admin_user: User,
) -> None:
    sent = invitation(mail_status=MailStatus.SENT, mail_sent_at=NOW, mail_attempts=1)
    failed = invitation(mail_status=MailStatus.FAILED, mail_attempts=2, mail_last_error="x")
    enqueued: list[int] = []

    queued = mail_resend(
        kind=kind(),
        rows=SurveyInvitation.objects.filter(pk__in=[sent.pk, failed.pk]),
        actor_id=admin_user.pk,
        enqueue=enqueued.append,
    )

    assert (queued, enqueued) == (2, [sent.pk, failed.pk])
    for row in (sent, failed):
        row.refresh_from_db()
        assert (row.mail_status, row.mail_attempts, row.mail_last_error) == ("pending", 0, "")
    events = AuditEvent.objects.filter(title="invitation/mail-resend").order_by("pk")
    assert [(e.user_id, e.app_function, e.details) for e in events] == [
        (
            admin_user.pk,
            "invitation-mail-resend",
            {"invitation_id": row.pk, "household_user_id": row.user_id, "previous_mail_status": s},
        )
        for row, s in ((sent, "sent"), (failed, "failed"))
    ]
    assert mail_deliver(kind=kind(), row_id=sent.pk, now=NOW).name == "sent"


def test_admin_change_page_lists_the_mail_fields_after_the_rows_own(admin_user: User) -> None:
    from django.contrib import admin

    request = RequestFactory().get("/")
    request.user = admin_user

    fields = ReportAdmin(Report, admin.site).get_fields(request)

    mail_position = fields.index("mail_status")
    assert fields[mail_position : mail_position + 5] == list(MailDelivery.MAIL_FIELDS)
    assert fields.index("worst_day_consumption_kwh") < mail_position < fields.index("mail_preview")
    assert fields[0] == "user"
