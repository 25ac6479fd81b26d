"""Values a spreadsheet would run as formulas are neutralised in every CSV we write (household
energy export, participant export and its admin action, research dataset), numbers are not."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from analytics.models import Sequence
from analytics.tests.factories import DeviceFactory, DevicePeakFactory
from energyleaf.tests.helpers import body_bytes, client_for, streamed_text
from energyleaf.users.models import ExperimentParticipation, User
from energyleaf.users.tests.factories import ExperimentParticipationFactory, UserFactory
from exports.compute.csv import neutralise
from exports.services import dataset as dataset_services
from sensors.models import Reading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://x")', "@SUM(1)", "+1+1", "-2+3", "\tTab", "\rCR", "=1,2"]
NUMBERS = ["-150", "1.5e3", "-1.5E-3", "+3", "0"]


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("value", HOSTILE)
def test_neutralise_prefixes_formulas(value: str) -> None:
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", NUMBERS)
def test_neutralise_leaves_numbers(value: str) -> None:
    assert neutralise(value) == value


def test_participant_export_and_admin_action(admin_user: User) -> None:
    users = []
    for number, value in enumerate(HOSTILE):
        user = UserFactory(
            is_participant=True, first_name=value, last_name=value, email=f"{number}@example.org"
        )
        ExperimentParticipationFactory(user=user, status="approved", experiment_number=number)
        users.append(user)
    api = client_for(admin_user)
    site = Client()
    site.force_login(admin_user)

    from_api = streamed_text(api.get("/api/v1/csv_experiment"))
    response = site.post(
        reverse("admin:users_experimentparticipation_changelist"),
        {
            "action": "download_experiment_csv",
            "_selected_action": list(ExperimentParticipation.objects.values_list("pk", flat=True)),
        },
    )
    from_admin = body_bytes(response).decode()

    for text in (from_api, from_admin):
        rows = cells(text)[1:]
        assert len(rows) == len(HOSTILE)
        for row, value, user in zip(rows, HOSTILE, users, strict=True):
            expected = "'" + value.replace(",", " ")
            assert row[:4] == [expected, expected, user.email, str(user.pk)]
            assert row[5] == str(HOSTILE.index(value))


def test_energy_export_keeps_negative_and_large_numbers() -> None:
    user = UserFactory()
    sensor = SensorFactory(user=user)
    Reading.objects.create(
        sensor=sensor,
        timestamp=datetime(2024, 6, 1, 10, tzinfo=UTC),
        value=Decimal("1.5e3"),
        consumption=Decimal("0.5"),
        value_current=Decimal(-150),
        value_out=Decimal("-0.000101"),  # a register: 4 decimals
    )
    api = client_for(user)

    text = streamed_text(
        api.get("/api/v1/csv_energy", {"start": "2024-06-01", "end": "2024-06-01"})
    )

    assert cells(text)[1][:6] == [
        "1500",
        "0.5",
        "-0.0001",
        "",
        "-150",
        "2024-06-01T10:00:00.000Z",
    ]
    assert "'" not in text


def test_research_dataset_neutralises_device_names(
    admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    user = UserFactory()
    sensor = SensorFactory(user=user)
    start = datetime(2024, 6, 1, tzinfo=UTC)
    for number, value in enumerate([*HOSTILE, "-150"]):
        sequence = Sequence.objects.create(
            sensor=sensor,
            kind="peak",
            start=start + timedelta(hours=number),
            end=start + timedelta(hours=number, minutes=5),
            average_power_w=-150.0,
            average_peak_power_w=1.5e3,
            energy_kwh=0.125,
        )
        device = DeviceFactory(user=user, name=value, category="kettle")
        DevicePeakFactory(device=device, sequence=sequence)

    with django_capture_on_commit_callbacks(execute=True):
        job = dataset_services.export_job_create(requested_by=admin_user, include_readings=False)
    data = (dataset_services.export_job_folder(job) / "sequences.csv.gz").read_bytes()
    rows = cells(gzip.decompress(data).decode())[1:]

    assert [row[9] for row in rows] == ["'" + value for value in HOSTILE] + ["-150"]
    assert {(row[5], row[6], row[7]) for row in rows} == {("-150", "1500", "0.125")}
