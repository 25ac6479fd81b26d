"""Reads of the survey routine: participants due for a survey and invitations to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from energyleaf.users.models import ExperimentParticipation
from energyleaf.users.selectors import household_time_zone
from reports.models import SurveyInvitation


@dataclass(frozen=True)
class SurveyStep:
    """Survey `number` is due `days_after_installation` local days after the installation day
    for participants in one of `from_statuses`; it moves them to `to_status`."""

    number: int
    days_after_installation: int
    from_statuses: tuple[str, ...]
    to_status: str
    survey_id_setting: str


SURVEY_STEPS: tuple[SurveyStep, ...] = (
    SurveyStep(
        number=2,
        days_after_installation=7,
        # Finished the first survey; `installation` is what admins set once the sensor is in.
        from_statuses=(
            ExperimentParticipation.Status.FIRST_FINISHED,
            ExperimentParticipation.Status.INSTALLATION,
        ),
        to_status=ExperimentParticipation.Status.SECOND_SURVEY,
        survey_id_setting="ENERGYLEAF_SURVEY_SECOND_ID",
    ),
    SurveyStep(
        number=3,
        days_after_installation=14,
        from_statuses=(ExperimentParticipation.Status.SECOND_FINISHED,),
        to_status=ExperimentParticipation.Status.THIRD_SURVEY,
        survey_id_setting="ENERGYLEAF_SURVEY_THIRD_ID",
    ),
)


def survey_candidates(*, step: SurveyStep, now: datetime, catch_up_days: int) -> list[int]:
    """Ids of the participations due for `step` at `now` (aware), ascending: participants who
    are active, paid and not recruited through Prolific, in one of the step's statuses, whose
    installation was between `days_after_installation` and that plus `catch_up_days` local days
    before today (in the household's zone). The catch-up lets a day the routine did not run, or
    a survey finished late, still lead to the next invitation; the status guards keep it to one."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    earliest = now - timedelta(days=step.days_after_installation + catch_up_days + 2)
    latest = now - timedelta(days=step.days_after_installation - 1)
    participations = (
        ExperimentParticipation.objects.filter(
            user__is_participant=True,
            user__is_active=True,
            uses_prolific=False,
            gets_paid=True,
            status__in=step.from_statuses,
            installation_date__gte=earliest,
            installation_date__lt=latest,
        )
        .select_related("user__household")
        .order_by("pk")
    )
    due: list[int] = []
    for participation in participations:
        zone = household_time_zone(user=participation.user)
        assert participation.installation_date is not None  # noqa: S101 - filtered above
        installed = participation.installation_date.astimezone(zone).date()
        days = (now.astimezone(zone).date() - installed).days
        if step.days_after_installation <= days <= step.days_after_installation + catch_up_days:
            due.append(participation.pk)
    return due


def survey_invitation_ids_to_send(*, max_attempts: int) -> list[int]:
    """Invitations still to be mailed (pending, or failed fewer than `max_attempts` times)."""
    return list(
        SurveyInvitation.objects.filter(SurveyInvitation.mail_due_filter(max_attempts=max_attempts))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
