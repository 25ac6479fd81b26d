"""The export jobs in the back office: add form (queued on commit), read-only progress, the
staff-only audited download, and the actions attached to the users app's admins."""

from __future__ import annotations

import gzip
import hashlib
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from energyleaf.audit.models import AuditEvent
from energyleaf.tests.helpers import body_bytes
from energyleaf.users.models import ExperimentParticipation, User
from energyleaf.users.tests.factories import ExperimentParticipationFactory, UserFactory
from exports.models import ExportJob
from exports.services import dataset as dataset_services
from sensors.models import Reading
from sensors.tests.factories import SensorFactory, make_readings

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> User:
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def client_(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def households() -> list[User]:
    users = [UserFactory(), UserFactory(), UserFactory()]
    for user in users:
        make_readings(SensorFactory(user=user), 5)
    return users


def finished_job(capture: Any, admin: User, users: list[User]) -> ExportJob:
    with capture(execute=True):
        job = dataset_services.export_job_create(
            requested_by=admin, households=[user.household for user in users]
        )
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED
    return job


def test_add_form_creates_and_queues_the_job_after_commit(
    client_: Client, admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    url = reverse("admin:exports_exportjob_add")
    assert client_.get(url).status_code == 200
    chosen = [households[0].household.pk, households[2].household.pk]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_.post(
            url,
            {
                "households": chosen,
                "start": "2024-07-01 00:00:00",
                "end": "2024-07-02 00:00:00",
                "include_readings": "on",
            },
        )

    assert response.status_code == 302, response.content
    assert len(callbacks) == 1
    job = ExportJob.objects.get()
    assert job.requested_by == admin
    assert sorted(job.households.values_list("pk", flat=True)) == sorted(chosen)
    assert (job.include_readings, job.include_sequences) == (True, False)
    assert job.status == ExportJob.Status.SUCCEEDED
    assert job.rows_written == 10


def test_add_form_refuses_an_export_of_nothing(client_: Client) -> None:
    response = client_.post(reverse("admin:exports_exportjob_add"), {"start": "", "end": ""})

    assert response.status_code == 200
    assert not ExportJob.objects.exists()


def test_changelist_and_change_page_show_progress_and_downloads(
    client_: Client, admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    job = finished_job(django_capture_on_commit_callbacks, admin, households[:1])
    running = ExportJob.objects.create(
        status=ExportJob.Status.RUNNING, rows_written=1500, rows_expected=6000
    )

    listing = client_.get(reverse("admin:exports_exportjob_changelist")).content.decode()
    page = client_.get(reverse("admin:exports_exportjob_change", args=(job.pk,))).content.decode()
    running_page = client_.get(
        reverse("admin:exports_exportjob_change", args=(running.pk,))
    ).content.decode()

    assert "1,500 / 6,000 rows (25 %)" in listing
    assert "5 / 5 rows (100 %)" in listing
    for name in dataset_services.DATASET_FILES:  # CSV, Parquet, households file, manifest
        assert reverse("admin:exports_exportjob_download", args=(job.pk, name)) in page
    assert "1,500 / 6,000 rows (25 %)" in running_page
    assert 'name="_save"' not in page  # read-only


def test_the_job_page_shows_download_links_only_to_those_who_may_download(
    admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    from django.contrib.auth.models import Permission

    job = finished_job(django_capture_on_commit_callbacks, admin, households[:1])
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_exportjob"))
    client = Client()
    client.force_login(viewer)
    download = reverse("admin:exports_exportjob_download", args=(job.pk, "readings.csv.gz"))

    page = client.get(reverse("admin:exports_exportjob_change", args=(job.pk,)))

    assert page.status_code == 200
    assert "5 / 5 rows (100 %)" in page.content.decode()
    assert download not in page.content.decode()
    assert client.get(download).status_code == 403


def test_download_streams_the_file_to_staff_and_is_audited(
    client_: Client, admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    job = finished_job(django_capture_on_commit_callbacks, admin, households[:2])
    url = reverse("admin:exports_exportjob_download", args=(job.pk, "readings.csv.gz"))

    response = client_.get(url)

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="energyleaf-export-{job.pk}-readings.csv.gz"'
    )
    body = body_bytes(response)
    assert body == (dataset_services.export_job_folder(job) / "readings.csv.gz").read_bytes()
    assert gzip.decompress(body).count(b"\n") == 11
    event = AuditEvent.objects.get(title="exports/dataset-downloaded")
    assert event.user == admin
    assert event.details == {
        "job": job.pk,
        "file": "readings.csv.gz",
        "sha256": job.checksums["readings.csv.gz"],
    }


@pytest.mark.parametrize("name", ["secret.txt", "..", ".readings.csv.gz.x.tmp"])
def test_download_refuses_other_names_and_unfinished_jobs(
    client_: Client,
    admin: User,
    households: list[User],
    django_capture_on_commit_callbacks: Any,
    name: str,
) -> None:
    job = finished_job(django_capture_on_commit_callbacks, admin, households[:1])
    pending = ExportJob.objects.create()

    other = client_.get(reverse("admin:exports_exportjob_download", args=(job.pk, name)))
    unfinished = client_.get(
        reverse("admin:exports_exportjob_download", args=(pending.pk, "manifest.json"))
    )

    assert other.status_code == 404
    assert unfinished.status_code == 404
    assert not AuditEvent.objects.filter(title="exports/dataset-downloaded").exists()


def test_download_needs_staff(
    admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    job = finished_job(django_capture_on_commit_callbacks, admin, households[:1])
    url = reverse("admin:exports_exportjob_download", args=(job.pk, "manifest.json"))
    household = Client()
    household.force_login(households[0])

    assert household.get(url).status_code == 302  # to the admin login
    assert Client().get(url).status_code == 302
    assert not AuditEvent.objects.filter(title="exports/dataset-downloaded").exists()


def test_household_admin_action_queues_an_export_of_the_selection(
    client_: Client, admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    chosen = [households[0].household.pk, households[1].household.pk]

    with django_capture_on_commit_callbacks(execute=True):
        response = client_.post(
            reverse("admin:users_household_changelist"),
            {"action": "export_households_readings", "_selected_action": chosen},
        )

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:exports_exportjob_change", args=(job.pk,))
    assert sorted(job.households.values_list("pk", flat=True)) == sorted(chosen)
    assert (job.include_readings, job.include_sequences) == (True, False)
    assert job.start is None
    assert job.end is None
    assert job.requested_by == admin
    assert job.rows_written == 10


def test_participation_admin_action_downloads_the_selected_participants(
    client_: Client, admin: User
) -> None:
    chosen = UserFactory(
        is_participant=True, first_name="=HYPERLINK(1)", last_name="+1+1", email="a@example.org"
    )
    left_out = UserFactory(is_participant=True)
    picked = ExperimentParticipationFactory(user=chosen, status="registered", experiment_number=4)
    ExperimentParticipationFactory(user=left_out, status="approved", experiment_number=5)

    response = client_.post(
        reverse("admin:users_experimentparticipation_changelist"),
        {"action": "download_experiment_csv", "_selected_action": [picked.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = body_bytes(response).decode()
    assert body == (
        "firstname,lastname,email,token,status,experiment_number,uses_prolific,gets_paid\n"
        f"'=HYPERLINK(1),'+1+1,a@example.org,{chosen.pk},registered,4,false,true\n"
    )
    event = AuditEvent.objects.get(title="exports/experiment-csv-downloaded")
    assert event.details == {"participations": [picked.pk]}
    assert ExperimentParticipation.objects.get(pk=picked.pk).status == "registered"


def test_actions_are_attached_without_touching_the_users_admin_classes() -> None:
    from django.contrib import admin as django_admin

    from energyleaf.users.admin.accounts import ExperimentParticipationAdmin, HouseholdAdmin
    from energyleaf.users.models import Household

    household_admin = django_admin.site.get_model_admin(Household)
    participation_admin = django_admin.site.get_model_admin(ExperimentParticipation)

    assert type(household_admin) is HouseholdAdmin
    # The project's subclass of the participations' admin (energyleaf/admin_site.py) is the one
    # registered; the actions are attached to it, the users app's class stays untouched.
    assert isinstance(participation_admin, ExperimentParticipationAdmin)
    assert "export_households_readings" in [
        getattr(action, "__name__", action) for action in household_admin.actions or ()
    ]
    assert "download_experiment_csv" in [
        getattr(action, "__name__", action) for action in participation_admin.actions or ()
    ]
    for admin_class in (HouseholdAdmin, ExperimentParticipationAdmin, type(participation_admin)):
        assert not any(
            "export" in str(action) for action in getattr(admin_class, "actions", ()) or ()
        )


def test_deleting_a_job_deletes_its_files(
    client_: Client, admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    job = finished_job(django_capture_on_commit_callbacks, admin, households[:1])
    folder = dataset_services.export_job_folder(job)
    assert folder.exists()

    response = client_.post(
        reverse("admin:exports_exportjob_delete", args=(job.pk,)), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not folder.exists()
    assert not ExportJob.objects.exists()
    assert Reading.objects.filter(value__gt=Decimal(0)).count() == 15


def test_household_action_needs_the_permission_to_add_export_jobs(
    households: list[User],
) -> None:
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_household"),
        Permission.objects.get(codename="change_household"),
    )
    client = Client()
    client.force_login(staff)

    changelist = client.get(reverse("admin:users_household_changelist"))
    assert changelist.status_code == 200
    assert "export_households_readings" not in changelist.content.decode()  # not offered
    response = client.post(
        reverse("admin:users_household_changelist"),
        {"action": "export_households_readings", "_selected_action": [households[0].household.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert not ExportJob.objects.exists()


def test_the_parquet_edition_downloads_like_the_csv_files(
    client_: Client, admin: User, households: list[User], django_capture_on_commit_callbacks: Any
) -> None:
    job = finished_job(django_capture_on_commit_callbacks, admin, households[:2])
    url = reverse("admin:exports_exportjob_download", args=(job.pk, "readings.parquet"))

    response = client_.get(url)

    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body[:4] == b"PAR1"
    assert hashlib.sha256(body).hexdigest() == job.checksums["readings.parquet"]
    event = AuditEvent.objects.get(title="exports/dataset-downloaded")
    assert event.details["file"] == "readings.parquet"
