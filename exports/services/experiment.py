"""Writes of the exports: marking survey participants as exported (an explicit admin action) and
recording participant CSV downloads. The research dataset jobs are in `exports.services.dataset`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition, User
from energyleaf.users.services import participation_status_change
from exports.models import ExperimentExportMark

_MARKABLE = (ExperimentParticipation.Status.APPROVED, ExperimentParticipation.Status.EXPORTED)


@transaction.atomic
def experiment_participants_mark_exported(
    *, user_ids: list[int], actor: User
) -> list[ExperimentExportMark]:
    """Set the participations of `user_ids` to `exported` (kept in their history and as status
    transitions) and record who marked them and when. All or nothing: unknown users or
    participants not approved (or already exported) are a ValidationError and nothing changes."""
    wanted = sorted(set(user_ids))
    participations = list(
        ExperimentParticipation.objects.select_for_update()
        .filter(user_id__in=wanted)
        .order_by("user_id")
    )
    found = {participation.user_id for participation in participations}
    missing = [user_id for user_id in wanted if user_id not in found]
    if missing:
        raise ValidationError({"user_ids": f"No participation for users {missing}."})
    wrong = [p.user_id for p in participations if p.status not in _MARKABLE]
    if wrong:
        raise ValidationError({"user_ids": f"Users {wrong} are not approved participants."})

    now = timezone.now()
    marks = []
    for participation in participations:
        if participation.status != ExperimentParticipation.Status.EXPORTED:
            participation_status_change(
                participation=participation,
                to_status=ExperimentParticipation.Status.EXPORTED,
                source=ExperimentStatusTransition.Source.EXPORT_MARK,
                at=now,
            )
        mark = ExperimentExportMark(participation=participation, exported_by=actor, exported_at=now)
        mark.full_clean()
        mark.save()
        marks.append(mark)
    return marks


def experiment_csv_download_record(*, user: User, participation_ids: list[int]) -> None:
    """Record in the audit log that `user` downloaded the participant CSV of these
    participations (the admin action; the download itself changes nothing)."""
    audit_event_record(
        title="exports/experiment-csv-downloaded",
        app_function="experiment_csv_download_record",
        log_type=AuditEvent.LogType.ACTION,
        app_component=AuditEvent.Component.ADMIN,
        user_id=user.pk,
        details={"participations": participation_ids},
    )
