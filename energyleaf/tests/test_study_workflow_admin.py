"""An admin's change of a participation status through the real admin change page: it goes
through `participation_status_change` (a transition with source `admin`) and, through the
project's admin (`energyleaf/admin_site.py`), mails the household once; a staff user without the
permission to change participations is refused and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse

from energyleaf.admin_site import ParticipationWithMailsAdmin
from energyleaf.users.models import ExperimentParticipation, ExperimentStatusTransition, User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from reports.models import StudyMail, SurveyInvitation

pytestmark = pytest.mark.django_db

Status = ExperimentParticipation.Status
Reason = ExperimentParticipation.DismissalReason


def participation(status: str, **fields: Any) -> ExperimentParticipation:
    user = UserFactory(is_participant=True, email="anna@example.org", first_name="Anna")
    return ExperimentParticipation.objects.create(user=user, status=status, **fields)


def form_data(part: ExperimentParticipation, **changes: Any) -> dict[str, Any]:
    """The change form as the page sends it, with `changes`."""
    values = {
        "user": part.user_id,
        "status": part.status,
        "dismissal_reason": part.dismissal_reason,
        "installation_date": part.installation_date,
        "deinstallation_date": part.deinstallation_date,
        "experiment_number": part.experiment_number,
        "gets_paid": part.gets_paid,
        "uses_prolific": part.uses_prolific,
        **changes,
    }
    data: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("installation_date", "deinstallation_date"):
            data[f"{name}_0"] = value.date().isoformat() if value else ""
            data[f"{name}_1"] = value.time().strftime("%H:%M:%S") if value else ""
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    return data


def post_change(
    client: Client, part: ExperimentParticipation, on_commit: Any, **changes: Any
) -> Any:
    url = reverse("admin:users_experimentparticipation_change", args=[part.pk])
    with on_commit(execute=True):
        return client.post(url, form_data(part, **changes))


@pytest.fixture
def participation_staff() -> User:
    """Staff in a group that may view and change participations (nothing else)."""
    group = Group.objects.create(name="study staff")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="users",
            codename__in=("view_experimentparticipation", "change_experimentparticipation"),
        )
    )
    staff = StaffFactory()
    staff.groups.add(group)
    return staff


def test_the_project_registers_the_participation_admin_that_mails() -> None:
    assert isinstance(
        admin.site.get_model_admin(ExperimentParticipation), ParticipationWithMailsAdmin
    )


@pytest.mark.parametrize("who", ["superuser", "participation staff"])
def test_dismissing_in_the_admin_records_the_change_and_mails_once(
    who: str,
    client: Client,
    admin_user: User,
    participation_staff: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client.force_login(admin_user if who == "superuser" else participation_staff)
    part = participation(Status.APPROVED)

    response = post_change(
        client,
        part,
        django_capture_on_commit_callbacks,
        status=Status.DISMISSED,
        dismissal_reason=Reason.INCOMPATIBLE_METER,
        experiment_number=4,
    )
    again = post_change(
        client,
        part,
        django_capture_on_commit_callbacks,
        status=Status.DISMISSED,
        dismissal_reason=Reason.INCOMPATIBLE_METER,
        experiment_number=4,
    )

    assert response.status_code == again.status_code == 302
    part.refresh_from_db()
    assert (part.status, part.dismissal_reason, part.experiment_number) == (
        Status.DISMISSED,
        Reason.INCOMPATIBLE_METER,
        4,
    )
    transition = ExperimentStatusTransition.objects.get()  # the second post changed nothing
    assert (transition.from_status, transition.to_status, transition.source) == (
        Status.APPROVED,
        Status.DISMISSED,
        ExperimentStatusTransition.Source.ADMIN,
    )
    assert part.status_changed_at == transition.changed_at
    study_mail = StudyMail.objects.get()
    assert (study_mail.transition, study_mail.dismissal_reason) == (
        transition,
        Reason.INCOMPATIBLE_METER,
    )
    [message] = mail.outbox
    assert (message.subject, message.to) == ("Teilnahme nicht möglich", ["anna@example.org"])
    assert "Messstellenbetreiber" in message.body
    # The participation's history names the admin who changed it.
    assert part.history.first().history_user_id == (  # type: ignore[union-attr]
        admin_user.pk if who == "superuser" else participation_staff.pk
    )


def test_ending_the_participation_in_the_admin_mails_the_thanks(
    admin_client_logged_in: Client, django_capture_on_commit_callbacks: Any
) -> None:
    part = participation(Status.THIRD_FINISHED)

    response = post_change(
        admin_client_logged_in, part, django_capture_on_commit_callbacks, status=Status.INACTIVE
    )

    assert response.status_code == 302
    assert ExperimentStatusTransition.objects.get().to_status == Status.INACTIVE
    assert [m.subject for m in mail.outbox] == ["Teilnahme abgeschlossen"]


@override_settings(
    ENERGYLEAF_SURVEY_URL_TEMPLATE="https://surveys.example.org/?t={token}&s={survey_id}&l={language}",
    ENERGYLEAF_SURVEY_THIRD_ID="349968",
)
def test_moving_to_the_third_survey_in_the_admin_invites(
    admin_client_logged_in: Client, django_capture_on_commit_callbacks: Any
) -> None:
    part = participation(Status.SECOND_FINISHED)

    response = post_change(
        admin_client_logged_in, part, django_capture_on_commit_callbacks, status=Status.THIRD_SURVEY
    )

    assert response.status_code == 302
    invitation = SurveyInvitation.objects.get()
    assert (invitation.survey_number, invitation.survey_id) == (3, "349968")
    assert [m.subject for m in mail.outbox] == ["Einladung zur Umfrage"]
    messages = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
    assert "The household will be invited to survey 3." in messages


def test_a_change_an_admin_may_not_make_is_refused_on_the_form(
    admin_client_logged_in: Client, django_capture_on_commit_callbacks: Any
) -> None:
    part = participation(Status.REGISTERED)

    response = post_change(
        admin_client_logged_in,
        part,
        django_capture_on_commit_callbacks,
        status=Status.THIRD_SURVEY,
        experiment_number=7,
    )

    assert response.status_code == 200
    assert "An admin may not change the status from registered to third_survey" in (
        response.content.decode()
    )
    part.refresh_from_db()
    assert (part.status, part.experiment_number) == (Status.REGISTERED, None)
    assert not ExperimentStatusTransition.objects.exists()
    assert mail.outbox == []


def test_dismissing_without_a_reason_is_refused_on_the_form(
    admin_client_logged_in: Client, django_capture_on_commit_callbacks: Any
) -> None:
    part = participation(Status.APPROVED)

    response = post_change(
        admin_client_logged_in, part, django_capture_on_commit_callbacks, status=Status.DISMISSED
    )

    assert response.status_code == 200
    assert "Dismissing needs a reason." in response.content.decode()
    part.refresh_from_db()
    assert part.status == Status.APPROVED
    assert not StudyMail.objects.exists()
    assert mail.outbox == []


def test_other_fields_alone_are_saved_without_a_transition(
    admin_client_logged_in: Client, django_capture_on_commit_callbacks: Any
) -> None:
    part = participation(Status.APPROVED)

    response = post_change(
        admin_client_logged_in, part, django_capture_on_commit_callbacks, uses_prolific=True
    )

    assert response.status_code == 302
    part.refresh_from_db()
    assert (part.status, part.uses_prolific) == (Status.APPROVED, True)
    assert not ExperimentStatusTransition.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("permissions", [(), ("view_experimentparticipation",)])
def test_staff_without_the_change_permission_is_refused_and_nothing_is_sent(
    permissions: tuple[str, ...], client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    staff = StaffFactory()
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="users", codename__in=permissions)
    )
    client.force_login(staff)
    part = participation(Status.APPROVED)

    response = post_change(
        client,
        part,
        django_capture_on_commit_callbacks,
        status=Status.DISMISSED,
        dismissal_reason=Reason.UNSPECIFIED,
    )

    assert response.status_code == 403
    part.refresh_from_db()
    assert part.status == Status.APPROVED
    assert not ExperimentStatusTransition.objects.exists()
    assert not StudyMail.objects.exists()
    assert mail.outbox == []


def test_a_new_participation_starts_registered(admin_client_logged_in: Client) -> None:
    user = UserFactory(is_participant=True)

    response = admin_client_logged_in.post(
        reverse("admin:users_experimentparticipation_add"),
        {"user": user.pk, "status": Status.DISMISSED, "gets_paid": "on"},
    )

    assert response.status_code == 302
    assert ExperimentParticipation.objects.get(user=user).status == Status.REGISTERED
    assert mail.outbox == []


def test_the_user_page_shows_the_status_without_changing_it(
    admin_client_logged_in: Client,
) -> None:
    part = participation(Status.APPROVED)

    page = admin_client_logged_in.get(reverse("admin:users_user_change", args=[part.user_id]))

    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="experiment-0-gets_paid"' in content  # the inline's other fields stay editable
    assert 'name="experiment-0-status"' not in content
    assert 'name="experiment-0-dismissal_reason"' not in content


def test_a_status_changed_meanwhile_by_another_admin_changes_nothing_and_is_no_error(
    client: Client,
    admin_user: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The form checks the transition against the status it loaded; another admin may move the
    status before the row is locked, and the service then refuses. The page answers normally and
    neither the status nor the other fields change."""
    client.force_login(admin_user)
    part = participation(Status.APPROVED, experiment_number=1)

    def moved_meanwhile(*args: Any, **kwargs: Any) -> None:
        ExperimentParticipation.objects.filter(pk=part.pk).update(status=Status.INACTIVE)
        raise ValidationError("inactive may not become dismissed")

    model_admin = admin.site.get_model_admin(ExperimentParticipation)
    monkeypatch.setattr(model_admin, "change_status", moved_meanwhile)
    response = post_change(
        client,
        part,
        django_capture_on_commit_callbacks,
        status=Status.DISMISSED,
        dismissal_reason=Reason.UNSPECIFIED,
        experiment_number=7,
    )

    assert response.status_code == 302
    part.refresh_from_db()
    assert (part.status, part.experiment_number, part.dismissal_reason) == (
        Status.APPROVED,
        1,
        "",
    )
    assert not ExperimentStatusTransition.objects.exists()
    assert mail.outbox == []
    shown = [str(m) for m in client.get(response.url).context["messages"]]
    assert any(text.startswith("Nothing was changed") for text in shown)


def test_an_earlier_version_can_be_looked_at_but_not_reverted_to(
    client: Client, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(admin_user)
    part = participation(Status.APPROVED)
    post_change(
        client,
        part,
        django_capture_on_commit_callbacks,
        status=Status.DISMISSED,
        dismissal_reason=Reason.UNSPECIFIED,
    )
    first = part.history.order_by("history_date").first()
    assert first is not None
    url = reverse(
        "admin:users_experimentparticipation_simple_history",
        args=[part.pk, first.history_id],
    )

    assert client.get(url).status_code == 200
    assert client.post(url, form_data(part)).status_code == 403
    part.refresh_from_db()
    assert part.status == Status.DISMISSED


def test_taking_a_dismissed_participant_back_clears_the_reason(
    client: Client, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(admin_user)
    part = participation(Status.DISMISSED, dismissal_reason=Reason.ATTENTION_CHECK)

    post_change(client, part, django_capture_on_commit_callbacks, status=Status.APPROVED)

    part.refresh_from_db()
    assert (part.status, part.dismissal_reason) == (Status.APPROVED, "")
