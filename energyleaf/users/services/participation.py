"""The experiment participation status has one writer: `participation_status_change` moves a
participation to a new status and records the change as an `ExperimentStatusTransition`, for the
survey routine (`reports`), for marking participants exported (`exports`) and for admins
(`participation_status_set_by_admin`, which the admin page calls; the study workflow mails of
such a change are reports': docs/operations.md, "Study workflow mails")."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import transaction

from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition

_Status = ExperimentParticipation.Status
_Source = ExperimentStatusTransition.Source

# The study's path; an admin moves a participant one step along it (either way).
_PATH: tuple[str, ...] = (
    _Status.REGISTERED,
    _Status.APPROVED,
    _Status.EXPORTED,
    _Status.FIRST_SURVEY,
    _Status.FIRST_FINISHED,
    _Status.INSTALLATION,
    _Status.SECOND_SURVEY,
    _Status.SECOND_FINISHED,
    _Status.THIRD_SURVEY,
    _Status.THIRD_FINISHED,
    _Status.DEINSTALLATION,
)


def _admin_transitions() -> frozenset[tuple[str, str]]:
    """What an admin may change: one step along the path, forward or back (a correction),
    except into `exported` (marking participants exported records the export); approved to the
    first survey (invited without the export) and the first survey finished straight to the
    second (as the survey routine may); dismissing anyone on the path; ending the participation
    (`inactive`) from the first survey on; and taking a dismissed or finished participant back
    (`registered` or `approved`)."""
    steps = set(pairwise(_PATH))
    steps |= {(later, earlier) for earlier, later in steps}
    steps.discard((_Status.APPROVED, _Status.EXPORTED))
    steps |= {
        (_Status.APPROVED, _Status.FIRST_SURVEY),
        (_Status.FIRST_FINISHED, _Status.SECOND_SURVEY),
    }
    steps |= {(status, _Status.DISMISSED) for status in _PATH}
    steps |= {(status, _Status.INACTIVE) for status in _PATH[_PATH.index(_Status.FIRST_SURVEY) :]}
    steps |= {
        (ended, again)
        for ended in (_Status.DISMISSED, _Status.INACTIVE)
        for again in (_Status.REGISTERED, _Status.APPROVED)
    }
    return frozenset(steps)


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
    # An admin's change in the admin (`_admin_transitions`).
    _Source.ADMIN: _admin_transitions(),
}
"""The status changes (from, to) each transition source may make."""


def participation_status_change_allowed(*, from_status: str, to_status: str, source: str) -> bool:
    """Whether `source` may move a participation from `from_status` to `to_status`
    (`PARTICIPATION_TRANSITIONS`); for forms that check before they save."""
    return (from_status, to_status) in PARTICIPATION_TRANSITIONS.get(source, frozenset())


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
    if not participation_status_change_allowed(
        from_status=from_status, to_status=to_status, source=source
    ):
        raise ValidationError(
            {"status": f"{source} may not change the status from {from_status} to {to_status}."}
        )
    participation.status = to_status
    participation.status_changed_at = at
    if to_status != _Status.DISMISSED:
        # A reason belongs to a dismissal: taken back, the participant has none, and dismissing
        # again asks for one afresh.
        participation.dismissal_reason = ""
    participation.full_clean()
    participation.save(
        update_fields=["status", "status_changed_at", "dismissal_reason", "updated_at"]
    )
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


@transaction.atomic
def participation_status_set_by_admin(
    *, participation_id: int, to_status: str, at: datetime
) -> ExperimentStatusTransition | None:
    """An admin's status change: lock the participation, and move it to `to_status` with
    `participation_status_change` (source `admin`). None, writing nothing, when it is already
    in `to_status` (a form sent twice, or two admins at once: the second finds the change made).
    Raises ValidationError for a change an admin may not make, and
    ExperimentParticipation.DoesNotExist."""
    participation = (
        ExperimentParticipation.objects.select_for_update(of=("self",))
        .select_related("user")
        .get(pk=participation_id)
    )
    if participation.status == to_status:
        return None
    return participation_status_change(
        participation=participation, to_status=to_status, source=_Source.ADMIN, at=at
    )
