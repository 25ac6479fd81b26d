"""The one writer of the experiment participation status and its transitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition
from energyleaf.users.services import (
    PARTICIPATION_TRANSITIONS,
    participation_status_change,
    participation_status_set_by_admin,
)
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
        ("unknown_source", Status.APPROVED, Status.EXPORTED, "nobody"),
        ("admin_exporting", Status.APPROVED, Status.EXPORTED, Source.ADMIN),
        ("admin_skipping_steps", Status.REGISTERED, Status.THIRD_SURVEY, Source.ADMIN),
        ("admin_ending_an_applicant", Status.APPROVED, Status.INACTIVE, Source.ADMIN),
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


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (Status.REGISTERED, Status.APPROVED),
        (Status.APPROVED, Status.FIRST_SURVEY),
        (Status.FIRST_FINISHED, Status.SECOND_SURVEY),
        (Status.INSTALLATION, Status.SECOND_SURVEY),
        (Status.SECOND_FINISHED, Status.THIRD_SURVEY),
        (Status.SECOND_SURVEY, Status.INSTALLATION),  # a correction: one step back
        (Status.REGISTERED, Status.DISMISSED),
        (Status.SECOND_SURVEY, Status.DISMISSED),
        (Status.DEINSTALLATION, Status.INACTIVE),
        (Status.FIRST_SURVEY, Status.INACTIVE),
        (Status.DISMISSED, Status.APPROVED),
        (Status.INACTIVE, Status.REGISTERED),
    ],
)
def test_an_admin_moves_along_the_study_dismisses_ends_and_takes_back(
    from_status: str, to_status: str
) -> None:
    assert (from_status, to_status) in PARTICIPATION_TRANSITIONS[Source.ADMIN]


def test_no_source_moves_into_the_status_it_leaves() -> None:
    for source, changes in PARTICIPATION_TRANSITIONS.items():
        assert all(start != end for start, end in changes), source


def test_an_admin_change_is_recorded_with_the_admin_source() -> None:
    participation = _participation(Status.FIRST_FINISHED)

    transition = participation_status_set_by_admin(
        participation_id=participation.pk, to_status=Status.SECOND_SURVEY, at=AT
    )

    assert transition is not None
    assert (transition.from_status, transition.to_status, transition.source) == (
        Status.FIRST_FINISHED,
        Status.SECOND_SURVEY,
        Source.ADMIN,
    )
    participation.refresh_from_db()
    assert (participation.status, participation.status_changed_at) == (Status.SECOND_SURVEY, AT)


def test_an_admin_change_to_the_status_it_has_writes_nothing() -> None:
    participation = _participation(Status.APPROVED)

    assert (
        participation_status_set_by_admin(
            participation_id=participation.pk, to_status=Status.APPROVED, at=AT
        )
        is None
    )
    assert not ExperimentStatusTransition.objects.exists()


def test_dismissing_needs_a_reason() -> None:
    participation = _participation(Status.APPROVED)

    with pytest.raises(ValidationError, match="reason"):
        participation_status_set_by_admin(
            participation_id=participation.pk, to_status=Status.DISMISSED, at=AT
        )

    participation.refresh_from_db()
    assert participation.status == Status.APPROVED
    assert not ExperimentStatusTransition.objects.exists()
    participation.dismissal_reason = ExperimentParticipation.DismissalReason.ATTENTION_CHECK
    participation.save()
    participation_status_set_by_admin(
        participation_id=participation.pk, to_status=Status.DISMISSED, at=AT
    )
    participation.refresh_from_db()
    assert participation.status == Status.DISMISSED


def test_an_imported_dismissal_gets_the_general_reason() -> None:
    from energyleaf.users.services.imported import user_import

    user = user_import(
        email="old@example.org",
        password_hash="!",
        survey_token="oldtoken123",
        user_fields={"username": "old"},
        household={},
        participation={"status": Status.DISMISSED},
        date_joined=None,
    )

    participation = ExperimentParticipation.objects.get(user=user)
    assert (participation.status, participation.dismissal_reason) == (
        Status.DISMISSED,
        ExperimentParticipation.DismissalReason.UNSPECIFIED,
    )
