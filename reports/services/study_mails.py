"""Study workflow mails: what a household is told when an admin changes its participation
status (docs/operations.md, "Study workflow mails").

An admin's change goes through `participation_status_change_with_mails`: in one transaction it
moves the participation (`energyleaf.users`' `participation_status_set_by_admin`, recorded as an
`ExperimentStatusTransition` with source `admin`) and queues the mail of that change on the
outbox:

- `dismissed`: "participation not possible" (`StudyMail`, kind `dismissed`), worded by the
  participation's dismissal reason (none named, a missed attention check, a meter the sensors
  cannot read);
- `inactive`: "participation finished" (`StudyMail`, kind `finished`);
- `second_survey` / `third_survey`: the survey invitation the daily survey routine sends
  (`SurveyInvitation`, the same row, link and mail), if the participant is paid and not recruited
  through Prolific and the survey is configured.

Nothing is mailed twice: a study mail is keyed by its transition (a retry of the same change
finds its row; a form sent twice makes no second transition), an invitation by user and survey;
the sending is the outbox's, which sends a row only while it is due. A later change to the same
status is a new transition with its own mail. Each row is mailed by a task enqueued after
commit; a row whose task was lost, or whose send failed, is mailed by the next daily survey
routine run (`study_mails_send_due`), up to `MAX_ATTEMPTS` attempts.

A study mail goes to the account's address even while the account is deactivated (applicants are
often dismissed before their account is activated); only an account without an address is
skipped (`no_email`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition, Household
from energyleaf.users.services import participation_status_set_by_admin
from reports.selectors.surveys import SURVEY_STEPS

from ..models import MailSkipReason, StudyMail, SurveyInvitation
from ..tasks import send_study_mail_task, send_survey_invitation_task
from .mails import mail_language, mail_recipient_name, templated_mail
from .outbox import MailKind, mail_deliver
from .surveys import survey_id_configured, survey_invitation_queue, survey_invitation_wanted

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3

_Status = ExperimentParticipation.Status
_MAIL_KIND_OF_STATUS: dict[str, str] = {
    _Status.DISMISSED: StudyMail.Kind.DISMISSED,
    _Status.INACTIVE: StudyMail.Kind.FINISHED,
}


@dataclass(frozen=True)
class StudyStatusChange:
    """What an admin's status change did: its `transition` (None: the participation was already
    in that status, nothing was written), the `study_mail` or survey `invitation` of it (None
    when the change has no mail), whether that row was `queued` now (False for a row found
    again: an invitation to a survey the participant was invited to before, or a repeated call
    for the same transition) and whether an invitation was due but its survey is not
    configured."""

    transition: ExperimentStatusTransition | None
    study_mail: StudyMail | None = None
    invitation: SurveyInvitation | None = None
    queued: bool = False
    invitation_not_configured: bool = False


@transaction.atomic
def participation_status_change_with_mails(
    *, participation_id: int, to_status: str, at: datetime
) -> StudyStatusChange:
    """An admin's status change with its mail, in one transaction: move the participation to
    `to_status` at `at` (aware) and queue the mail of the change. Changing to the status it
    already has does nothing. Raises ValidationError for a change an admin may not make
    (writing nothing)."""
    transition = participation_status_set_by_admin(
        participation_id=participation_id, to_status=to_status, at=at
    )
    if transition is None:
        return StudyStatusChange(transition=None)
    return study_workflow_mail_queue(transition=transition, now=at)


@transaction.atomic
def study_workflow_mail_queue(
    *, transition: ExperimentStatusTransition, now: datetime
) -> StudyStatusChange:
    """Queue the mail of an admin's `transition` (see the module) and enqueue its sending for
    after the commit. Idempotent: called again for the same transition, it finds the row it made
    and enqueues nothing more."""
    participation = transition.participation
    kind = _MAIL_KIND_OF_STATUS.get(transition.to_status)
    if kind is not None:
        reason = ""
        if kind == StudyMail.Kind.DISMISSED:
            reason = (
                participation.dismissal_reason
                or ExperimentParticipation.DismissalReason.UNSPECIFIED
            )
        mail, created = StudyMail.objects.get_or_create(
            transition=transition,
            defaults={
                "user_id": participation.user_id,
                "kind": kind,
                "dismissal_reason": reason,
                "created_at": now,
            },
        )
        if created:
            transaction.on_commit(partial(send_study_mail_task.delay, mail.pk), robust=True)
        return StudyStatusChange(transition=transition, study_mail=mail, queued=created)
    step = next((s for s in SURVEY_STEPS if s.to_status == transition.to_status), None)
    if step is None or not survey_invitation_wanted(participation=participation):
        return StudyStatusChange(transition=transition)
    survey_id = survey_id_configured(step=step)
    if not survey_id:
        return StudyStatusChange(transition=transition, invitation_not_configured=True)
    invitation, created = survey_invitation_queue(
        participation=participation, step=step, survey_id=survey_id, now=now
    )
    if created:
        transaction.on_commit(
            partial(send_survey_invitation_task.delay, invitation.pk), robust=True
        )
    return StudyStatusChange(transition=transition, invitation=invitation, queued=created)


def study_mail_send(*, study_mail_id: int, now: datetime) -> str:
    """Mail one study mail if it is still due: `sent`, `failed` (recorded; the next survey
    routine run tries again), `gave_up`, `skipped_no_email`, `not_due` (sent or skipped
    already) or `missing` (no such row, or another worker has it)."""
    return mail_deliver(kind=STUDY_MAIL, row_id=study_mail_id, now=now).name


def study_mails_send_due(*, now: datetime) -> dict[str, int]:
    """Mail every study mail still due (pending, or failed below `MAX_ATTEMPTS`): those whose
    task was lost and those whose send failed. Counts by outcome."""
    counts = {"study_mails_sent": 0, "study_mails_failed": 0, "study_mails_skipped": 0}
    due = (
        StudyMail.objects.filter(StudyMail.mail_due_filter(max_attempts=MAX_ATTEMPTS))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    for study_mail_id in list(due):
        try:
            outcome = study_mail_send(study_mail_id=study_mail_id, now=now)
        except Exception:
            # One mail's failure must not stop the others; it is logged with its id.
            logger.exception(
                "study_mail.send_failed study_mail=%s",
                study_mail_id,
                extra={"study_mail_id": study_mail_id},
            )
            outcome = "failed"
        if outcome == "sent":
            counts["study_mails_sent"] += 1
        elif outcome in ("failed", "gave_up"):
            counts["study_mails_failed"] += 1
        elif outcome.startswith("skipped"):
            counts["study_mails_skipped"] += 1
    return counts


def _study_mail_message(mail: StudyMail, now: datetime) -> EmailMultiAlternatives | MailSkipReason:
    """The study mail's message in the household's language, or `no_email` for an account
    without an address."""
    user = mail.user
    if not user.email:
        return MailSkipReason.NO_EMAIL
    language = mail_language(Household.objects.filter(user_id=user.pk).first())
    context = {
        "name": mail_recipient_name(user),
        "reason": mail.dismissal_reason,
        "contact_email": str(getattr(settings, "ENERGYLEAF_SURVEY_CONTACT_EMAIL", "") or ""),
    }
    return templated_mail(
        template=f"reports/mail/study_{mail.kind}.{language}", context=context, to=user.email
    )


# Sent by its task right after the change; failures are tried again by the daily survey routine
# up to MAX_ATTEMPTS; a row another worker holds is left to it.
STUDY_MAIL = MailKind(
    name="study_mail",
    label="study_mail",
    model=StudyMail,
    compose=_study_mail_message,
    select_related=("user",),
    max_attempts=MAX_ATTEMPTS,
)
