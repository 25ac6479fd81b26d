"""CSV exports and research datasets write numbers rounded to their unit, in fixed point without
trailing zeros or exponents, on SQLite (rows formatted in Python) and PostgreSQL (lines built in
the database): registers and their differences to 4 decimals, energy to the Wh, power to 0.1 W."""

from __future__ import annotations

import gzip
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.models import Sequence
from analytics.tests.helpers import NOISY_BIG, NOISY_SMALL, TINY, noisy_rollups
from energyleaf.tests.helpers import client_for, streamed_text, utc
from energyleaf.users.tests.factories import UserFactory
from exports.services import dataset as dataset_services
from exports.services.dataset import export_job_create
from sensors.tests.factories import SensorFactory
from sensors.tests.helpers import reading

pytestmark = pytest.mark.django_db


@pytest.fixture
def household() -> dict[str, Any]:
    user = UserFactory()
    sensor = SensorFactory(user=user)
    # Stored with 6 decimals; written with 4 (half up), power with 1.
    reading(
        sensor,
        utc(2024, 6, 1, 10),
        "12345.678950",
        "0.000050",
        value_out="10.000001",
        inserted="0.000001",
        value_current=Decimal("230.45"),
    )
    reading(sensor, utc(2024, 6, 1, 10, 0, 15), "12345.679", "0.000050", value_current=Decimal(0))
    noisy_rollups(sensor, utc(2024, 6, 1, 10))
    Sequence.objects.create(
        sensor=sensor,
        kind="peak",
        start=utc(2024, 6, 1, 10),
        end=utc(2024, 6, 1, 10, 5),
        average_power_w=NOISY_BIG,
        average_peak_power_w=NOISY_SMALL,
        energy_kwh=NOISY_SMALL,
        base_load_w=TINY,
    )
    client = client_for(user)
    return {"user": user, "sensor": sensor, "client": client}


def _export(client: APIClient, resolution: str) -> list[list[str]]:
    text = streamed_text(
        client.get(
            "/api/v1/csv_energy",
            {"start": "2024-06-01", "end": "2024-06-01", "resolution": resolution},
        )
    )
    for noisy in ("2454.000000000036", "0.1227000", "e-0", "E-0", "0.000001"):
        assert noisy not in text
    return [line.split(",") for line in text.splitlines()[1:]]


def test_raw_export_rounds_registers_and_power(household: dict[str, Any]) -> None:
    rows = _export(household["client"], "raw")

    assert [row[:6] for row in rows] == [
        ["12345.679", "0.0001", "10", "0", "230.5", "2024-06-01T10:00:00.000Z"],
        ["12345.679", "0.0001", "", "", "0", "2024-06-01T10:00:15.000Z"],
    ]


@pytest.mark.parametrize("resolution", ["hour", "day"])
def test_hourly_and_daily_exports_round_energy_and_power(
    household: dict[str, Any], resolution: str
) -> None:
    rows = [row for row in _export(household["client"], resolution) if row[-1] != "0"]

    assert [row[2:] for row in rows] == [["0.3", "0", "1227", "2454", "2"]]


def test_dataset_files_round_readings_and_sequences(
    household: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(
            requested_by=None,
            households=[household["user"].household],
            start=utc(2024, 6, 1),
            end=utc(2024, 6, 2),
        )
    folder = dataset_services.export_job_folder(job)
    readings = gzip.decompress((folder / "readings.csv.gz").read_bytes()).decode()
    sequences = gzip.decompress((folder / "sequences.csv.gz").read_bytes()).decode()

    reading_rows = [line.split(",")[3:9] for line in readings.splitlines()[1:]]
    assert reading_rows == [
        ["2024-06-01T10:00:00.000Z", "12345.679", "0.0001", "10", "0", "230.5"],
        ["2024-06-01T10:00:15.000Z", "12345.679", "0.0001", "", "", "0"],
    ]
    sequence_rows = [line.split(",")[5:9] for line in sequences.splitlines()[1:]]
    assert sequence_rows == [["2454", "0.1", "0.123", "0"]]
