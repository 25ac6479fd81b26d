"""The one writer of the experiment participation status and its transitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition
from energyleaf.users.services import participation_status_change
from energyleaf.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Status = ExperimentParticipation.Status
Source = ExperimentStatusTransition.Source
AT = datetime(2024, 6, 20, 6, 15, tzinfo=UTC)


def _participation(status: str) -> ExperimentParticipation:
    return ExperimentParticipation.objects.create(user=UserFactory(), status=status)


def test_a_status_change_writes_the_status_and_its_transition() -> None:
    participation = _participation(Status.APPROVED)

    transition = participation_status_change(
        participation=participation, to_status=Status.EXPORTED, source=Source.EXPORT_MARK, at=AT
    )

    participation.refresh_from_db()
    assert (participation.status, participation.status_changed_at) == (Status.EXPORTED, AT)
    assert participation.history.first().status == Status.EXPORTED  # type: ignore[union-attr]
    assert list(
        ExperimentStatusTransition.objects.values_list(
            "pk", "participation_id", "from_status", "to_status", "changed_at", "source"
        )
    ) == [(transition.pk, participation.pk, "approved", "exported", AT, "export_mark")]


@pytest.mark.parametrize(
    ("case", "from_status", "to_status", "source"),
    [
        ("export_of_an_unapproved", Status.REGISTERED, Status.EXPORTED, Source.EXPORT_MARK),
        ("same_status", Status.EXPORTED, Status.EXPORTED, Source.EXPORT_MARK),
        ("survey_routine_exporting", Status.APPROVED, Status.EXPORTED, Source.SURVEY_ROUTINE),
        ("survey_skipping_a_survey", Status.FIRST_FINISHED, Status.THIRD_SURVEY, "survey_routine"),
        ("unknown_source", Status.APPROVED, Status.EXPORTED, "admin"),
    ],
)
def test_a_change_the_source_may_not_make_writes_nothing(
    case: str, from_status: str, to_status: str, source: str
) -> None:
    participation = _participation(from_status)

    with pytest.raises(ValidationError):
        participation_status_change(
            participation=participation, to_status=to_status, source=source, at=AT
        )

    participation.refresh_from_db()
    assert (participation.status, participation.status_changed_at) == (from_status, None)
    assert not ExperimentStatusTransition.objects.exists()


def test_a_naive_time_is_refused() -> None:
    participation = _participation(Status.APPROVED)

    with pytest.raises(ValueError, match="aware"):
        participation_status_change(
            participation=participation,
            to_status=Status.EXPORTED,
            source=Source.EXPORT_MARK,
            at=AT.replace(tzinfo=None),
        )
    assert not ExperimentStatusTransition.objects.exists()
