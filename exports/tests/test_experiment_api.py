"""Participant export (GET, changes nothing) and the recorded mark-as-exported action."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from energyleaf.tests.helpers import client_for, streamed_text
from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition, User
from energyleaf.users.tests.factories import (
    ExperimentParticipationFactory,
    StaffFactory,
    UserFactory,
)
from exports.models import ExperimentExportMark

pytestmark = pytest.mark.django_db

URL = "/api/v1/csv_experiment"
MARK_URL = "/api/v1/csv_experiment/mark_exported"
HEADER = "firstname,lastname,email,token,status,experiment_number,uses_prolific,gets_paid\n"
Status = ExperimentParticipation.Status


def participant(status: str, number: int | None = 1, **fields: object) -> User:
    user = UserFactory(is_participant=True, **fields)
    ExperimentParticipationFactory(user=user, status=status, experiment_number=number)
    return user


@pytest.fixture
def admin() -> User:
    return StaffFactory(roles=["researcher"])


def test_export_lists_approved_participants_with_hostile_fields_neutralised(admin: User) -> None:
    hostile = participant(
        Status.APPROVED,
        first_name='=HYPERLINK("http://evil")',
        last_name="Doe, Jr.",
        email="anna@example.org",
    )
    plain = participant(Status.APPROVED, 0, first_name="@Bob", last_name="-Miller")
    participant(Status.REGISTERED)
    participant(Status.APPROVED, None)
    UserFactory(is_participant=False)

    response = client_for(admin).get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="experiment_approved.csv"'
    assert streamed_text(response) == HEADER + (
        f'"\'=HYPERLINK(""http://evil"")",Doe  Jr.,anna@example.org,{hostile.pk},'
        "approved,1,false,true\n"
        f"'@Bob,'-Miller,{plain.email},{plain.pk},approved,0,false,true\n"
    )


def test_export_filters_by_status(admin: User) -> None:
    registered = participant(Status.REGISTERED)
    participant(Status.APPROVED)

    only = streamed_text(client_for(admin).get(URL, {"status": "registered"})).splitlines()
    everyone = streamed_text(client_for(admin).get(URL, {"all_statuses": "true"})).splitlines()

    assert [line.split(",")[3] for line in only[1:]] == [str(registered.pk)]
    assert len(everyone) == 3


def test_get_changes_nothing(admin: User) -> None:
    user = participant(Status.APPROVED)
    client_for(admin).get(URL)
    client_for(admin).get(URL)

    participation = ExperimentParticipation.objects.get(user=user)
    assert participation.status == Status.APPROVED
    assert participation.history.count() == 1
    assert not ExperimentExportMark.objects.exists()


def test_bad_status_is_400(admin: User) -> None:
    response = client_for(admin).get(URL, {"status": "nonsense"})
    assert response.status_code == 400
    assert "status" in response.json()["extra"]["fields"]


def test_households_and_anonymous_cannot_export_or_mark() -> None:
    user = participant(Status.APPROVED)
    household = client_for(UserFactory())

    assert household.get(URL).status_code == 403
    assert household.post(MARK_URL, {"user_ids": [user.pk]}, format="json").status_code == 403
    for role in ([], ["support"]):  # staff without the permissions
        staff = client_for(StaffFactory(roles=role))
        assert staff.get(URL).status_code == 403
        assert staff.post(MARK_URL, {"user_ids": [user.pk]}, format="json").status_code == 403
    assert not ExperimentExportMark.objects.exists()
    assert APIClient().get(URL).status_code == 401
    assert ExperimentParticipation.objects.get(user=user).status == Status.APPROVED


def test_mark_exported_records_who_and_when(admin: User) -> None:
    first = participant(Status.APPROVED)
    second = participant(Status.APPROVED)

    response = client_for(admin).post(MARK_URL, {"user_ids": [second.pk, first.pk]}, format="json")

    assert response.status_code == 200
    assert [row["user_id"] for row in response.json()] == [first.pk, second.pk]
    for user in (first, second):
        participation = ExperimentParticipation.objects.get(user=user)
        assert participation.status == Status.EXPORTED
        assert participation.history.first().status == Status.EXPORTED  # type: ignore[union-attr]
        mark = ExperimentExportMark.objects.get(participation=participation)
        assert mark.exported_by == admin
        assert mark.exported_at == participation.status_changed_at
        transitions = ExperimentStatusTransition.objects.filter(participation=participation)
        assert list(
            transitions.values_list("from_status", "to_status", "changed_at", "source")
        ) == [("approved", "exported", mark.exported_at, "export_mark")]
    assert streamed_text(client_for(admin).get(URL)) == HEADER


@pytest.mark.parametrize(
    ("case", "status"),
    [("unknown_user", None), ("not_approved", Status.REGISTERED)],
)
def test_mark_exported_refuses_and_writes_nothing(
    admin: User, case: str, status: str | None
) -> None:
    approved = participant(Status.APPROVED)
    other_id = participant(status).pk if status else 999_999

    response = client_for(admin).post(
        MARK_URL, {"user_ids": [approved.pk, other_id]}, format="json"
    )

    assert response.status_code == 400, case
    assert "user_ids" in response.json()["extra"]["fields"]
    assert ExperimentParticipation.objects.get(user=approved).status == Status.APPROVED
    assert not ExperimentExportMark.objects.exists()
    assert not ExperimentStatusTransition.objects.exists()


def test_mark_exported_needs_user_ids(admin: User) -> None:
    response = client_for(admin).post(MARK_URL, {"user_ids": []}, format="json")
    assert response.status_code == 400
