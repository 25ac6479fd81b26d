"""The experiment participation status has one writer: `participation_status_change` moves a
participation to a new status and records the change as an `ExperimentStatusTransition`, for the
survey routine (`reports`) and for marking participants exported (`exports`)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition

_Status = ExperimentParticipation.Status
_Source = ExperimentStatusTransition.Source

PARTICIPATION_TRANSITIONS: dict[str, frozenset[tuple[str, str]]] = {
    # The survey routine's steps (docs/design.md, difference 14): survey 2 after the first survey
    # or the installation, survey 3 after the second survey.
    _Source.SURVEY_ROUTINE: frozenset(
        {
            (_Status.FIRST_FINISHED, _Status.SECOND_SURVEY),
            (_Status.INSTALLATION, _Status.SECOND_SURVEY),
            (_Status.SECOND_FINISHED, _Status.THIRD_SURVEY),
        }
    ),
    # Marking approved participants as exported (docs/design.md, difference 11).
    _Source.EXPORT_MARK: frozenset({(_Status.APPROVED, _Status.EXPORTED)}),
}
"""The status changes (from, to) each transition source may make."""


@transaction.atomic
def participation_status_change(
    *,
    participation: ExperimentParticipation,
    to_status: str,
    source: str,
    at: datetime,
) -> ExperimentStatusTransition:
    """Move `participation` to `to_status` and record the change (from, to, `at`, `source`) as an
    `ExperimentStatusTransition`, in one transaction; `status_changed_at` becomes `at` (aware,
    UTC inside). The participation history keeps the change too.

    Raises ValidationError, writing nothing, for a change `source` may not make
    (`PARTICIPATION_TRANSITIONS`; staying in the same status is no change). Callers that chose
    the participation by its status hold its row locked (`select_for_update`).
    """
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    from_status = participation.status
    if (from_status, to_status) not in PARTICIPATION_TRANSITIONS.get(source, frozenset()):
        raise ValidationError(
            {"status": f"{source} may not change the status from {from_status} to {to_status}."}
        )
    participation.status = to_status
    participation.status_changed_at = at
    participation.full_clean()
    participation.save(update_fields=["status", "status_changed_at", "updated_at"])
    transition = ExperimentStatusTransition(
        participation=participation,
        from_status=from_status,
        to_status=to_status,
        changed_at=at,
        source=source,
    )
    transition.full_clean()
    transition.save()
    return transition
