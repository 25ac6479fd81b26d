"""The daily survey routine (the old platform's, its defects fixed): participants due for the
second or third survey move to `second_survey` / `third_survey` and are invited by mail.

Fixes (docs/design.md, difference 14): each survey has its own window (7 and 14 local days
after the installation day in the household's zone, plus a catch-up of
`ENERGYLEAF_SURVEY_CATCH_UP_DAYS` days for a missed run) and its own starting statuses (survey 2
from `first_finished` or `installation`, survey 3 from `second_finished`); the survey token is
the user id as text, as in the participant CSV export; the status change, its transition row and
a pending invitation are one transaction, and the invitation is then mailed through the outbox
(`reports/services/outbox.py`); a failed mail is tried again by later runs (up to
`MAX_ATTEMPTS`), so a mail failure no longer loses the invitation. Idempotent: a second run the
same day finds nobody in a starting status and no pending invitation. One participant's failure
is logged and counted; the others go on.

Survey links and ids come from settings: `ENERGYLEAF_SURVEY_URL_TEMPLATE` (with `{token}`,
`{survey_id}` and `{language}`), `ENERGYLEAF_SURVEY_SECOND_ID`, `ENERGYLEAF_SURVEY_THIRD_ID`.
A survey whose link or id is not configured is left alone (nobody is moved or invited).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from energyleaf.users.models import (
    ExperimentParticipation,
    ExperimentStatusTransition,
    Household,
    User,
)
from energyleaf.users.services import participation_status_change
from reports.selectors.surveys import (
    SURVEY_STEPS,
    SurveyStep,
    survey_candidates,
    survey_invitation_ids_to_send,
)

from ..models import MailSkipReason, SurveyInvitation
from .mails import mail_language, mail_recipient_name, templated_mail
from .outbox import MailKind, mail_deliver, mail_recipient_missing

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
DEFAULT_CATCH_UP_DAYS = 7


@dataclass
class SurveyRoutineResult:
    """Counts of one run."""

    not_configured: int = 0
    moved_to_second_survey: int = 0
    moved_to_third_survey: int = 0
    failed: int = 0
    invitations_sent: int = 0
    invitations_failed: int = 0
    invitations_skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def survey_token(*, user_id: int) -> str:
    """The participant's token in the survey tool: the user id as text, or the old platform's
    id of an imported account (`User.survey_tool_token`; the participant CSV export writes the
    same)."""
    user = User.objects.only("pk", "survey_token").filter(pk=user_id).first()
    return user.survey_tool_token if user is not None else str(user_id)


def survey_link(*, user_id: int, survey_id: str, language: str) -> str:
    """The survey link of the user from `ENERGYLEAF_SURVEY_URL_TEMPLATE`."""
    template = str(settings.ENERGYLEAF_SURVEY_URL_TEMPLATE)
    return template.format(
        token=survey_token(user_id=user_id), survey_id=survey_id, language=language
    )


def survey_routine_run(*, now: datetime) -> SurveyRoutineResult:
    """One daily run at `now` (aware): advance every due participant, then mail every invitation
    still to be sent. Safe to run twice and concurrently."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    result = SurveyRoutineResult()
    catch_up = int(getattr(settings, "ENERGYLEAF_SURVEY_CATCH_UP_DAYS", DEFAULT_CATCH_UP_DAYS))
    for step in SURVEY_STEPS:
        survey_id = survey_id_configured(step=step)
        if not survey_id:
            result.not_configured += 1
            continue
        for participation_id in survey_candidates(step=step, now=now, catch_up_days=catch_up):
            try:
                moved = survey_step_advance(
                    participation_id=participation_id, step=step, survey_id=survey_id, now=now
                )
            except Exception:
                # One participant's failure must not stop the others; it is logged with its id.
                logger.exception(
                    "survey_routine.advance_failed participation=%s survey=%s",
                    participation_id,
                    step.number,
                    extra={"participation_id": participation_id, "survey": step.number},
                )
                result.failed += 1
                continue
            if moved and step.number == 2:
                result.moved_to_second_survey += 1
            elif moved:
                result.moved_to_third_survey += 1
    for invitation_id in survey_invitation_ids_to_send(max_attempts=MAX_ATTEMPTS):
        try:
            outcome = survey_invitation_send(invitation_id=invitation_id, now=now)
        except Exception:
            logger.exception(
                "survey_routine.invitation_failed invitation=%s",
                invitation_id,
                extra={"invitation_id": invitation_id},
            )
            outcome = "failed"
        if outcome == "sent":
            result.invitations_sent += 1
        elif outcome == "failed":
            result.invitations_failed += 1
        elif outcome is not None and outcome.startswith("skipped"):
            result.invitations_skipped += 1
    counts = result.as_dict()
    logger.info("survey_routine.run %s", counts, extra={"counts": counts})
    return result


@transaction.atomic
def survey_step_advance(
    *, participation_id: int, step: SurveyStep, survey_id: str, now: datetime
) -> bool:
    """Move one participation to the step's status, record the transition and create its
    pending invitation, in one transaction. False (nothing written) when the participation is
    no longer in a starting status."""
    participation = (
        ExperimentParticipation.objects.select_for_update(of=("self",))
        .select_related("user__household")
        .filter(pk=participation_id, status__in=step.from_statuses)
        .first()
    )
    if participation is None:
        return False
    participation_status_change(
        participation=participation,
        to_status=step.to_status,
        source=ExperimentStatusTransition.Source.SURVEY_ROUTINE,
        at=now,
    )
    survey_invitation_queue(participation=participation, step=step, survey_id=survey_id, now=now)
    return True


def survey_id_configured(*, step: SurveyStep) -> str:
    """The survey tool's id of the step's survey, or "" when the survey (its id or the link
    template) is not configured: then nobody is invited to it."""
    survey_id = str(getattr(settings, step.survey_id_setting, "") or "")
    if not survey_id or not settings.ENERGYLEAF_SURVEY_URL_TEMPLATE:
        return ""
    return survey_id


def survey_invitation_wanted(*, participation: ExperimentParticipation) -> bool:
    """Whether a participant is invited to the surveys by mail: paid and not recruited through
    Prolific (Prolific invites its own)."""
    return participation.gets_paid and not participation.uses_prolific


def survey_invitation_queue(
    *, participation: ExperimentParticipation, step: SurveyStep, survey_id: str, now: datetime
) -> tuple[SurveyInvitation, bool]:
    """The pending invitation of the participant to the step's survey, created unless there is
    one (at most one per user and survey: nobody is invited twice to the same survey); with
    whether it was created. The caller holds the participation's row locked."""
    household = getattr(participation.user, "household", None)
    return SurveyInvitation.objects.get_or_create(
        user_id=participation.user_id,
        survey_number=step.number,
        defaults={
            "survey_id": survey_id,
            "link": survey_link(
                user_id=participation.user_id,
                survey_id=survey_id,
                language=mail_language(household),
            ),
            "created_at": now,
        },
    )


def survey_invitation_send(*, invitation_id: int, now: datetime) -> str | None:
    """Mail one invitation that is still to be sent: `sent`, `failed` (recorded, tried again by
    a later run until `MAX_ATTEMPTS`), `skipped_no_email` (the account has no address or is
    deactivated) or None when another run has it or it is done."""
    outcome = mail_deliver(kind=SURVEY_INVITATION, row_id=invitation_id, now=now)
    if not outcome.handled:
        return None
    return "failed" if outcome.name == "gave_up" else outcome.name


def _invitation_message(
    invitation: SurveyInvitation, now: datetime
) -> EmailMultiAlternatives | MailSkipReason:
    """The invitation's message, or `no_email` for an account without an address or a
    deactivated one (nothing is sent, and the row says so instead of claiming it was sent)."""
    user = invitation.user
    if mail_recipient_missing(is_active=user.is_active, email=user.email):
        return MailSkipReason.NO_EMAIL
    language = mail_language(Household.objects.filter(user_id=user.pk).first())
    context = {
        "name": mail_recipient_name(user),
        "survey_number": invitation.survey_number,
        "link": invitation.link,
        "contact_email": str(getattr(settings, "ENERGYLEAF_SURVEY_CONTACT_EMAIL", "") or ""),
    }
    return templated_mail(
        template=f"reports/mail/survey_invitation.{language}", context=context, to=user.email
    )


# Retried by later runs up to MAX_ATTEMPTS; a row another run holds is left to it.
SURVEY_INVITATION = MailKind(
    name="survey_invitation",
    label="invitation",
    model=SurveyInvitation,
    compose=_invitation_message,
    select_related=("user",),
    max_attempts=MAX_ATTEMPTS,
)
