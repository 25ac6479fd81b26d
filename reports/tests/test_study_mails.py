"""Study workflow mails of an admin's status change: the dismissal mails (three reasons) and the
"participation finished" mail in German and English, the survey invitation rule, one mail per
transition (retries and repeated changes send nothing twice; a new transition mails again), and
failed sends tried again by the daily survey routine."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from energyleaf.users.models import (
    ExperimentParticipation,
    ExperimentStatusTransition,
    Household,
    User,
)
from energyleaf.users.tests.factories import UserFactory
from reports.models import MailStatus, StudyMail, SurveyInvitation
from reports.services.study_mails import (
    MAX_ATTEMPTS,
    participation_status_change_with_mails,
    study_mail_send,
    study_workflow_mail_queue,
)
from reports.tasks import send_study_mail_task, survey_routine_task

pytestmark = pytest.mark.django_db

AT = datetime(2024, 6, 20, 9, 30, tzinfo=UTC)
Status = ExperimentParticipation.Status
Reason = ExperimentParticipation.DismissalReason
CONFIGURED = {
    "ENERGYLEAF_SURVEY_URL_TEMPLATE": (
        "https://surveys.example.org/index.php?token={token}&sid={survey_id}&lang={language}"
    ),
    "ENERGYLEAF_SURVEY_SECOND_ID": "468112",
    "ENERGYLEAF_SURVEY_THIRD_ID": "349968",
    "ENERGYLEAF_SURVEY_CONTACT_EMAIL": "study@example.org",
}


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPServerDisconnected("mail server down")


def participation(
    status: str,
    *,
    language: str = "de",
    reason: str = "",
    gets_paid: bool = True,
    uses_prolific: bool = False,
    **user: Any,
) -> ExperimentParticipation:
    account = UserFactory(
        is_participant=True, first_name="Anna", last_name="Berg", email="anna@example.org", **user
    )
    Household.objects.filter(user=account).update(language=language)
    return ExperimentParticipation.objects.create(
        user=account,
        status=status,
        dismissal_reason=reason,
        installation_date=AT - timedelta(days=3),
        gets_paid=gets_paid,
        uses_prolific=uses_prolific,
    )


def change(
    part: ExperimentParticipation, to_status: str, on_commit: Any, *, at: datetime = AT
) -> Any:
    """The admin's change with its after-commit sending run."""
    with on_commit(execute=True):
        return participation_status_change_with_mails(
            participation_id=part.pk, to_status=to_status, at=at
        )


def body_of(message: Any) -> tuple[str, str]:
    return message.body, message.alternatives[0][0]


DISMISSAL_WORDING = [
    # (language, reason, subject, words of the text and the HTML)
    ("de", Reason.UNSPECIFIED, "Teilnahme nicht möglich", ["derzeit nicht möglich", "Gründe"]),
    ("de", Reason.ATTENTION_CHECK, "Teilnahme nicht möglich", ["Kontrollfrage", "Auswertung"]),
    ("de", Reason.INCOMPATIBLE_METER, "Teilnahme nicht möglich", ["Messstellenbetreiber"]),
    ("en", Reason.UNSPECIFIED, "Participation not possible", ["not possible at the moment"]),
    ("en", Reason.ATTENTION_CHECK, "Participation not possible", ["check question", "analysis"]),
    ("en", Reason.INCOMPATIBLE_METER, "Participation not possible", ["metering operator"]),
]
# Words only one reason's mail has: the others must not carry them.
ONLY_IN = {
    Reason.ATTENTION_CHECK: {"de": "Ihre Antworten", "en": "use your answers"},
    Reason.INCOMPATIBLE_METER: {"de": "Messstellenbetreiber", "en": "metering operator"},
    Reason.UNSPECIFIED: {"de": "Häufige Gründe", "en": "Common reasons"},
}


@override_settings(ENERGYLEAF_SURVEY_CONTACT_EMAIL="study@example.org")
@pytest.mark.parametrize(("language", "reason", "subject", "words"), DISMISSAL_WORDING)
def test_a_dismissal_mails_the_reason_in_the_household_language(
    language: str,
    reason: str,
    subject: str,
    words: list[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.APPROVED, language=language, reason=reason)

    result = change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    assert result.study_mail.kind == StudyMail.Kind.DISMISSED
    assert result.study_mail.dismissal_reason == reason
    [message] = mail.outbox
    assert message.subject == subject
    assert message.to == ["anna@example.org"]
    text, html = body_of(message)
    greeting = "Hallo Anna Berg" if language == "de" else "Hello Anna Berg"
    for needle in [greeting, "study@example.org", *words]:
        assert needle in text
        assert needle in html
    for other, marker in ONLY_IN.items():
        if other != reason:
            assert marker[language] not in text
    assert f'lang="{language}"' in html
    result.study_mail.refresh_from_db()
    assert result.study_mail.mail_status == MailStatus.SENT
    assert result.study_mail.mail_sent_at is not None


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("de", "Teilnahme abgeschlossen", ["Hallo Anna Berg", "abgeschlossen", "Herzlichen Dank"]),
        ("en", "Your participation is complete", ["Hello Anna Berg", "Thank you very much"]),
    ],
)
def test_ending_the_participation_mails_thanks(
    language: str, subject: str, words: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    part = participation(Status.DEINSTALLATION, language=language)

    result = change(part, Status.INACTIVE, django_capture_on_commit_callbacks)

    assert (result.study_mail.kind, result.study_mail.dismissal_reason) == (
        StudyMail.Kind.FINISHED,
        "",
    )
    [message] = mail.outbox
    assert message.subject == subject
    text, html = body_of(message)
    for needle in words:
        assert needle in text
        assert needle in html
    assert "nicht möglich" not in text
    assert "not possible" not in text


def test_an_unknown_language_gets_the_german_mail(django_capture_on_commit_callbacks: Any) -> None:
    part = participation(Status.APPROVED, language="fr", reason=Reason.UNSPECIFIED)

    change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    assert [m.subject for m in mail.outbox] == ["Teilnahme nicht möglich"]


def test_the_change_is_recorded_with_its_mail_in_one_transaction(
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.APPROVED, reason=Reason.ATTENTION_CHECK)

    result = change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    transition = ExperimentStatusTransition.objects.get()
    assert (transition.from_status, transition.to_status, transition.source) == (
        Status.APPROVED,
        Status.DISMISSED,
        ExperimentStatusTransition.Source.ADMIN,
    )
    assert result.transition == transition
    assert StudyMail.objects.get().transition == transition


def test_a_refused_change_writes_and_mails_nothing(django_capture_on_commit_callbacks: Any) -> None:
    part = participation(Status.REGISTERED)

    with pytest.raises(ValidationError):
        change(part, Status.THIRD_SURVEY, django_capture_on_commit_callbacks)

    part.refresh_from_db()
    assert part.status == Status.REGISTERED
    assert not ExperimentStatusTransition.objects.exists()
    assert not StudyMail.objects.exists()
    assert not SurveyInvitation.objects.exists()
    assert mail.outbox == []


def test_retries_of_the_same_transition_mail_once(django_capture_on_commit_callbacks: Any) -> None:
    part = participation(Status.APPROVED, reason=Reason.INCOMPATIBLE_METER)
    first = change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    # The queueing again for the same transition, the task re-delivered, the change sent again.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = study_workflow_mail_queue(transition=first.transition, now=AT)
    outcomes = [send_study_mail_task.delay(first.study_mail.pk).get() for _ in range(2)]
    repeated = change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    assert (again.study_mail, again.queued, callbacks) == (first.study_mail, False, [])
    assert outcomes == ["not_due", "not_due"]
    assert repeated.transition is None
    assert repeated.study_mail is None
    assert StudyMail.objects.count() == 1
    assert ExperimentStatusTransition.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_new_dismissal_after_taking_back_mails_again(
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.APPROVED, reason=Reason.ATTENTION_CHECK)
    change(part, Status.DISMISSED, django_capture_on_commit_callbacks)
    back = change(part, Status.APPROVED, django_capture_on_commit_callbacks, at=AT + timedelta(1))
    ExperimentParticipation.objects.filter(pk=part.pk).update(
        dismissal_reason=Reason.INCOMPATIBLE_METER
    )

    change(part, Status.DISMISSED, django_capture_on_commit_callbacks, at=AT + timedelta(2))

    assert back.study_mail is None
    assert back.invitation is None
    assert list(StudyMail.objects.order_by("pk").values_list("dismissal_reason", flat=True)) == [
        Reason.ATTENTION_CHECK,
        Reason.INCOMPATIBLE_METER,
    ]
    assert len(mail.outbox) == 2
    assert "Messstellenbetreiber" in mail.outbox[1].body
    assert "Messstellenbetreiber" not in mail.outbox[0].body


@override_settings(**CONFIGURED)
@pytest.mark.parametrize(
    ("uses_prolific", "gets_paid", "invited"),
    [(False, True, True), (True, True, False), (False, False, False), (True, False, False)],
)
@pytest.mark.parametrize(
    ("from_status", "to_status", "survey_number", "survey_id"),
    [
        (Status.INSTALLATION, Status.SECOND_SURVEY, 2, "468112"),
        (Status.SECOND_FINISHED, Status.THIRD_SURVEY, 3, "349968"),
    ],
)
def test_moving_to_a_survey_invites_paid_participants_not_from_prolific(
    uses_prolific: bool,
    gets_paid: bool,
    invited: bool,
    from_status: str,
    to_status: str,
    survey_number: int,
    survey_id: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(from_status, uses_prolific=uses_prolific, gets_paid=gets_paid)

    result = change(part, to_status, django_capture_on_commit_callbacks)

    part.refresh_from_db()
    assert part.status == to_status
    assert result.transition is not None
    assert not StudyMail.objects.exists()
    if not invited:
        assert (result.invitation, SurveyInvitation.objects.count(), mail.outbox) == (None, 0, [])
        return
    invitation = SurveyInvitation.objects.get()
    assert (invitation.user_id, invitation.survey_number, invitation.survey_id) == (
        part.user_id,
        survey_number,
        survey_id,
    )
    assert invitation.link == (
        f"https://surveys.example.org/index.php?token={part.user_id}&sid={survey_id}&lang=de"
    )
    [message] = mail.outbox
    assert message.subject == "Einladung zur Umfrage"  # the survey routine's mail
    assert f"Energyleaf Umfrage {survey_number}" in message.body
    assert invitation.link in message.body
    invitation.refresh_from_db()
    assert invitation.mail_status == MailStatus.SENT


@override_settings(**CONFIGURED)
def test_a_survey_someone_was_invited_to_is_not_mailed_again(
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.INSTALLATION, language="en")
    change(part, Status.SECOND_SURVEY, django_capture_on_commit_callbacks)
    change(part, Status.INSTALLATION, django_capture_on_commit_callbacks, at=AT + timedelta(1))

    again = change(
        part, Status.SECOND_SURVEY, django_capture_on_commit_callbacks, at=AT + timedelta(2)
    )

    assert (again.invitation, again.queued) == (SurveyInvitation.objects.get(), False)
    assert [m.subject for m in mail.outbox] == ["Invitation to a survey"]


@override_settings(ENERGYLEAF_SURVEY_URL_TEMPLATE="", ENERGYLEAF_SURVEY_SECOND_ID="468112")
def test_a_survey_that_is_not_configured_moves_without_an_invitation(
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.INSTALLATION)

    result = change(part, Status.SECOND_SURVEY, django_capture_on_commit_callbacks)

    assert result.transition is not None
    assert result.invitation_not_configured
    assert not SurveyInvitation.objects.exists()
    assert mail.outbox == []


def test_other_changes_mail_nothing(django_capture_on_commit_callbacks: Any) -> None:
    part = participation(Status.REGISTERED)

    result = change(part, Status.APPROVED, django_capture_on_commit_callbacks)

    assert result.transition is not None
    assert (result.study_mail, result.invitation, result.queued) == (None, None, False)
    assert mail.outbox == []


def test_a_deactivated_account_still_gets_its_dismissal(
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.REGISTERED, reason=Reason.UNSPECIFIED, is_active=False)

    change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    assert [m.to for m in mail.outbox] == [["anna@example.org"]]


def test_an_account_without_address_is_skipped(django_capture_on_commit_callbacks: Any) -> None:
    part = participation(Status.REGISTERED, reason=Reason.UNSPECIFIED)
    User.objects.filter(pk=part.user_id).update(email="")

    result = change(part, Status.DISMISSED, django_capture_on_commit_callbacks)

    result.study_mail.refresh_from_db()
    assert (result.study_mail.mail_status, result.study_mail.mail_skip_reason) == (
        MailStatus.SKIPPED,
        "no_email",
    )
    assert mail.outbox == []


def test_a_failed_send_is_tried_again_by_the_daily_routine(
    django_capture_on_commit_callbacks: Any,
) -> None:
    part = participation(Status.APPROVED, reason=Reason.ATTENTION_CHECK)
    with override_settings(EMAIL_BACKEND="reports.tests.test_study_mails.FailingBackend"):
        result = change(part, Status.DISMISSED, django_capture_on_commit_callbacks)
    row = StudyMail.objects.get()
    assert (row.mail_status, row.mail_attempts) == (MailStatus.FAILED, 1)
    assert "mail server down" in row.mail_last_error

    counts = survey_routine_task.delay((AT + timedelta(days=1)).isoformat()).get()
    counts_again = survey_routine_task.delay((AT + timedelta(days=2)).isoformat()).get()

    row.refresh_from_db()
    assert (row.mail_status, row.mail_attempts, row.mail_last_error) == (MailStatus.SENT, 2, "")
    assert counts["study_mails_sent"] == 1
    assert counts_again["study_mails_sent"] == 0
    assert [m.subject for m in mail.outbox] == ["Teilnahme nicht möglich"]
    assert result.study_mail.pk == row.pk


def test_a_mail_that_keeps_failing_is_given_up_after_the_attempts() -> None:
    part = participation(Status.APPROVED, reason=Reason.ATTENTION_CHECK)
    result = participation_status_change_with_mails(
        participation_id=part.pk, to_status=Status.DISMISSED, at=AT
    )

    with override_settings(EMAIL_BACKEND="reports.tests.test_study_mails.FailingBackend"):
        outcomes = [study_mail_send(study_mail_id=result.study_mail.pk, now=AT) for _ in range(4)]

    assert outcomes == ["failed"] * (MAX_ATTEMPTS - 1) + ["gave_up", "not_due"]
    assert mail.outbox == []
