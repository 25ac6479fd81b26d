"""The daily survey routine: windows in local days, starting statuses, transitions, invitations,
idempotence, isolation of one participant's failure, mail failures retried by later runs."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from energyleaf.schedule import default_entry
from energyleaf.users.models import (
    ExperimentParticipation,
    ExperimentStatusTransition,
    Household,
    User,
)
from energyleaf.users.services import PARTICIPATION_TRANSITIONS
from energyleaf.users.tests.factories import UserFactory
from reports.models import SurveyInvitation
from reports.selectors.surveys import SURVEY_STEPS
from reports.services import surveys
from reports.services.surveys import MAX_ATTEMPTS, survey_routine_run
from reports.tasks import survey_routine_task

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 6, 20, 6, 15, tzinfo=UTC)  # 08:15 in Berlin, 20.6.
Status = ExperimentParticipation.Status
CONFIGURED = {
    "ENERGYLEAF_SURVEY_URL_TEMPLATE": (
        "https://surveys.example.org/index.php?token={token}&sid={survey_id}&lang={language}"
    ),
    "ENERGYLEAF_SURVEY_SECOND_ID": "468112",
    "ENERGYLEAF_SURVEY_THIRD_ID": "349968",
    "ENERGYLEAF_SURVEY_CATCH_UP_DAYS": 7,
    "ENERGYLEAF_SURVEY_CONTACT_EMAIL": "study@example.org",
}


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPServerDisconnected("mail server down")


def participant(
    status: str,
    installed: datetime,
    *,
    language: str = "de",
    is_active: bool = True,
    uses_prolific: bool = False,
    gets_paid: bool = True,
) -> User:
    user = UserFactory(is_participant=True, is_active=is_active, first_name="Anna", last_name="M")
    Household.objects.filter(user=user).update(language=language)
    ExperimentParticipation.objects.create(
        user=user,
        status=status,
        installation_date=installed,
        uses_prolific=uses_prolific,
        gets_paid=gets_paid,
    )
    return user


def status_of(user: User) -> str:
    return ExperimentParticipation.objects.get(user=user).status


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@override_settings(**CONFIGURED)
def test_due_participants_move_on_with_a_transition_and_one_invitation_each() -> None:
    second = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))  # 7 days ago
    installed = participant(Status.INSTALLATION, local(2024, 6, 13, 23, 30), language="en")
    third = participant(Status.SECOND_FINISHED, local(2024, 6, 6, 9))  # 14 days ago
    not_yet = participant(Status.FIRST_FINISHED, local(2024, 6, 14, 0, 30))  # 6 days
    too_late = participant(Status.FIRST_FINISHED, local(2024, 6, 5, 12))  # 15 days: past catch-up
    others = [
        participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10), uses_prolific=True),
        participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10), gets_paid=False),
        participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10), is_active=False),
        participant(Status.SECOND_SURVEY, local(2024, 6, 13, 10)),
        participant(Status.SECOND_FINISHED, local(2024, 6, 13, 10)),  # 7 days: not the 3rd yet
    ]

    result = survey_routine_run(now=NOW)

    assert result.as_dict() == {
        "not_configured": 0,
        "moved_to_second_survey": 2,
        "moved_to_third_survey": 1,
        "failed": 0,
        "invitations_sent": 3,
        "invitations_failed": 0,
        "invitations_skipped": 0,
    }
    assert [status_of(u) for u in (second, installed, third)] == [
        Status.SECOND_SURVEY,
        Status.SECOND_SURVEY,
        Status.THIRD_SURVEY,
    ]
    assert status_of(not_yet) == status_of(too_late) == Status.FIRST_FINISHED
    assert [status_of(u) for u in others] == [
        Status.FIRST_FINISHED,
        Status.FIRST_FINISHED,
        Status.FIRST_FINISHED,
        Status.SECOND_SURVEY,
        Status.SECOND_FINISHED,
    ]
    transitions = list(
        ExperimentStatusTransition.objects.order_by("participation__user_id").values_list(
            "participation__user_id", "from_status", "to_status", "changed_at", "source"
        )
    )
    assert transitions == [
        (second.pk, "first_finished", "second_survey", NOW, "survey_routine"),
        (installed.pk, "installation", "second_survey", NOW, "survey_routine"),
        (third.pk, "second_finished", "third_survey", NOW, "survey_routine"),
    ]
    assert ExperimentParticipation.objects.get(user=second).status_changed_at == NOW
    by_address = {message.to[0]: message for message in mail.outbox}
    german = by_address[second.email]
    assert german.subject == "Einladung zur Umfrage"
    link = f"https://surveys.example.org/index.php?token={second.pk}&sid=468112&lang=de"
    assert link in german.body
    assert "Energyleaf Umfrage 2" in german.body
    assert "Anna M" in german.body
    assert "study@example.org" in german.body
    assert link.replace("&", "&amp;") in german.alternatives[0].content
    english = by_address[installed.email]
    assert english.subject == "Invitation to a survey"
    assert f"token={installed.pk}&sid=468112&lang=en" in english.body
    assert "sid=349968" in by_address[third.email].body
    invitation = SurveyInvitation.objects.get(user=third)
    assert (invitation.survey_number, invitation.mail_status, invitation.mail_sent_at) == (
        3,
        "sent",
        NOW,
    )


@override_settings(**CONFIGURED)
def test_running_twice_the_same_day_changes_and_sends_nothing_more() -> None:
    participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))
    survey_routine_run(now=NOW)

    again = survey_routine_run(now=NOW.replace(hour=18))

    assert again.moved_to_second_survey == again.invitations_sent == 0
    assert ExperimentStatusTransition.objects.count() == 1
    assert SurveyInvitation.objects.count() == 1
    assert len(mail.outbox) == 1


@override_settings(**CONFIGURED)
def test_local_days_decide_not_utc_days() -> None:
    # Installed 13.6. 00:30 in Berlin = 12.6. 22:30 UTC; at 19.6. 23:00 Berlin it is 6 local days
    # (7 UTC days): not due yet; at 20.6. 00:30 Berlin it is 7 local days.
    user = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 0, 30))

    survey_routine_run(now=local(2024, 6, 19, 23))
    assert status_of(user) == Status.FIRST_FINISHED

    survey_routine_run(now=local(2024, 6, 20, 0, 30))
    assert status_of(user) == Status.SECOND_SURVEY


@override_settings(**CONFIGURED)
@pytest.mark.parametrize("today", [1, 3, 7, 8, 15, 31])
def test_third_survey_is_due_on_every_day_of_the_month(today: int) -> None:
    # The old routine's window was empty on days 1-7 of a month (docs/design.md, difference 14).
    now = datetime(2024, 7, today, 7, tzinfo=BERLIN)
    user = participant(Status.SECOND_FINISHED, now - timedelta(days=14))

    survey_routine_run(now=now)

    assert status_of(user) == Status.THIRD_SURVEY


@override_settings(**CONFIGURED)
def test_a_missed_day_is_caught_up_but_only_once() -> None:
    user = participant(Status.FIRST_FINISHED, local(2024, 6, 10, 10))  # 10 days ago

    survey_routine_run(now=NOW)
    survey_routine_run(now=datetime(2024, 6, 21, 6, 15, tzinfo=UTC))

    assert status_of(user) == Status.SECOND_SURVEY
    assert SurveyInvitation.objects.filter(user=user).count() == 1
    assert len(mail.outbox) == 1


@override_settings(**CONFIGURED)
def test_one_participants_failure_does_not_stop_the_others() -> None:
    broken = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))
    fine = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 11))
    original = surveys.participation_status_change

    def change(*, participation: ExperimentParticipation, **kwargs: Any) -> Any:
        transition = original(participation=participation, **kwargs)
        if participation.user_id == broken.pk:
            raise RuntimeError("disk full")  # after the status and its transition are written
        return transition

    with mock.patch.object(surveys, "participation_status_change", side_effect=change):
        result = survey_routine_run(now=NOW)

    assert (result.failed, result.moved_to_second_survey, result.invitations_sent) == (1, 1, 1)
    assert status_of(broken) == Status.FIRST_FINISHED  # rolled back with its transition
    assert not ExperimentStatusTransition.objects.filter(participation__user=broken).exists()
    assert not SurveyInvitation.objects.filter(user=broken).exists()
    assert status_of(fine) == Status.SECOND_SURVEY
    assert [m.to for m in mail.outbox] == [[fine.email]]


@override_settings(**CONFIGURED)
def test_a_failed_invitation_is_kept_and_sent_by_a_later_run() -> None:
    user = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))

    with override_settings(EMAIL_BACKEND="reports.tests.test_surveys.FailingBackend"):
        first = survey_routine_run(now=NOW)
    invitation = SurveyInvitation.objects.get(user=user)
    assert (first.moved_to_second_survey, first.invitations_failed) == (1, 1)
    assert (invitation.mail_status, invitation.mail_attempts) == ("failed", 1)
    assert "mail server down" in invitation.mail_last_error
    assert status_of(user) == Status.SECOND_SURVEY

    later = survey_routine_run(now=datetime(2024, 6, 21, 6, 15, tzinfo=UTC))

    invitation.refresh_from_db()
    assert later.invitations_sent == 1
    assert (invitation.mail_status, invitation.mail_attempts, invitation.mail_last_error) == (
        "sent",
        2,
        "",
    )
    assert len(mail.outbox) == 1


@override_settings(**CONFIGURED, EMAIL_BACKEND="reports.tests.test_surveys.FailingBackend")
def test_an_invitation_is_given_up_after_the_attempt_limit() -> None:
    user = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))

    for _ in range(MAX_ATTEMPTS + 2):
        survey_routine_run(now=NOW)

    assert SurveyInvitation.objects.get(user=user).mail_attempts == MAX_ATTEMPTS


@override_settings(**CONFIGURED)
def test_an_invitation_to_an_account_without_address_is_skipped_not_claimed_sent() -> None:
    user = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))
    type(user).objects.filter(pk=user.pk).update(email="")

    result = survey_routine_run(now=NOW)

    assert (result.moved_to_second_survey, result.invitations_sent) == (1, 0)
    assert result.invitations_skipped == 1
    assert mail.outbox == []
    invitation = SurveyInvitation.objects.get(user=user)
    assert (invitation.mail_status, invitation.mail_skip_reason, invitation.mail_sent_at) == (
        "skipped",
        "no_email",
        None,
    )
    assert survey_routine_run(now=NOW).invitations_skipped == 0  # decided once, not retried


def test_without_configuration_nobody_is_moved() -> None:
    user = participant(Status.FIRST_FINISHED, local(2024, 6, 13, 10))

    result = survey_routine_run(now=NOW)

    assert result.not_configured == 2
    assert status_of(user) == Status.FIRST_FINISHED
    assert mail.outbox == []


@override_settings(**CONFIGURED)
def test_daily_task_runs_the_routine_and_is_scheduled() -> None:
    participant(Status.SECOND_FINISHED, local(2024, 6, 6, 9))

    counts = survey_routine_task.delay(NOW.isoformat()).get()

    assert counts["moved_to_third_survey"] == 1
    assert default_entry("survey-routine").task == "reports.survey_routine"


def test_every_survey_step_is_a_change_the_survey_routine_may_make() -> None:
    steps = {(start, step.to_status) for step in SURVEY_STEPS for start in step.from_statuses}

    assert steps == PARTICIPATION_TRANSITIONS[ExperimentStatusTransition.Source.SURVEY_ROUTINE]
