"""The demo seed shows the product (readings, peaks, rollups, a mailed report, an export) and a
second run adds nothing; the simulated live sensor continues the seeded history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from analytics.models import ConsumptionRollup, DeviceSuggestion, Sequence
from analytics.services.suggestions import classifier_cache_clear
from energyleaf.audit.models import AuditEvent
from energyleaf.demo.selectors import stored_registers
from energyleaf.demo.services import DEMO_ADMIN, DEMO_HOUSEHOLD, DEMO_SENSOR, demo_seed
from energyleaf.users.models import Household, User
from exports.models import ExportJob
from reports.models import MailStatus, Report
from sensors import services as sensor_services
from sensors.models import Reading, RejectedReading, Sensor
from simulation.meter import HouseholdModel

# Committed for real: the seed runs the tasks that services enqueue after their commit inline.
pytestmark = pytest.mark.django_db(transaction=True)

HOURS = 24  # 12 h of detection reference, then the afternoon and evening with their peaks
# Just before midnight UTC (in the past whatever time the test runs): the history lies in
# yesterday's local day of Berlin, whose report is built.
NOW = datetime.combine(timezone.now().date(), datetime.min.time(), tzinfo=UTC) - timedelta(
    minutes=1
)


@pytest.fixture(autouse=True)
def _demo_folders(settings: Any, tmp_path: Path) -> Any:
    """Exports and models in this test's folder; no classifier (the seed is told not to train:
    training is the slow part, tested in analytics)."""
    settings.EXPORTS_ROOT = tmp_path / "exports"
    settings.ENERGYLEAF_ML_MODEL_DIR = tmp_path / "models"
    settings.VAR_DIR = tmp_path
    classifier_cache_clear()
    yield
    classifier_cache_clear()


def _counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "sensors": Sensor.objects.count(),
        "readings": Reading.objects.count(),
        "rejected": RejectedReading.objects.count(),
        "sequences": Sequence.objects.count(),
        "suggestions": DeviceSuggestion.objects.count(),
        "rollups": ConsumptionRollup.objects.count(),
        "reports": Report.objects.count(),
        "exports": ExportJob.objects.count(),
        "audit": AuditEvent.objects.count(),
        "mails": len(mail.outbox),
    }


def test_the_seed_shows_the_product_and_a_second_run_adds_nothing() -> None:
    result = demo_seed(now=NOW, hours=HOURS, train=False)

    assert set(result.passwords) == {DEMO_ADMIN, DEMO_HOUSEHOLD}
    sensor = Sensor.objects.get(client_id=DEMO_SENSOR)
    assert sensor.user is not None
    assert sensor.user.email == DEMO_HOUSEHOLD
    # In the study arm that is shown device suggestions (ENERGYLEAF_SUGGESTION_ARMS' default).
    assert sensor.user.household.app_version == Household.AppVersion.SUPPORT
    readings = Reading.objects.filter(sensor=sensor)
    assert readings.count() == result.readings
    # About one reading every 15 s over the hours, ending at `now`.
    assert result.readings > HOURS * 200
    newest = readings.order_by("-timestamp").first()
    oldest = readings.order_by("timestamp").first()
    assert newest is not None
    assert oldest is not None
    assert NOW - timedelta(minutes=1) < newest.timestamp <= NOW
    assert oldest.timestamp > NOW - timedelta(hours=HOURS)
    assert not RejectedReading.objects.exists()  # the history is plausible throughout

    # Every half hour from the one holding the first reading to the last one that ended.
    assert HOURS * 2 - 1 <= result.windows <= HOURS * 2
    assert result.peaks > 0
    assert Sequence.objects.filter(sensor=sensor, kind="peak").count() == result.peaks
    assert ConsumptionRollup.objects.filter(sensor=sensor).exists()

    report = Report.objects.get(user=sensor.user)
    assert report.pk == result.report_id
    assert report.status == Report.Status.OK
    assert report.total_consumption_kwh is not None
    assert report.total_consumption_kwh > 0
    assert report.mail_status == MailStatus.SENT
    assert [message.to for message in mail.outbox] == [[DEMO_HOUSEHOLD]]

    job = ExportJob.objects.get()
    assert job.pk == result.export_job_id
    assert job.status == ExportJob.Status.SUCCEEDED
    assert job.rows_written >= result.readings

    before = _counts()
    again = demo_seed(now=NOW + timedelta(minutes=10), hours=HOURS, train=False)

    assert _counts() == before
    assert again.passwords == {}
    assert (again.readings, again.windows, again.report_id, again.export_job_id) == (
        0,
        0,
        None,
        None,
    )


def test_the_live_simulated_sensor_continues_the_seeded_history() -> None:
    demo_seed(now=NOW, hours=3, train=False)
    newest = Reading.objects.filter(sensor__client_id=DEMO_SENSOR).order_by("-timestamp").first()
    assert newest is not None

    registers = stored_registers(client_ids=[DEMO_SENSOR.lower()])
    assert registers == {DEMO_SENSOR.lower(): float(newest.value)}
    # As `simulate_sensors --register` starts sensor 1 a minute after the seed.
    start = (NOW + timedelta(minutes=1)).timestamp()
    model = HouseholdModel(
        seed=0, index=1, start=start, register_kwh=registers[DEMO_SENSOR.lower()]
    )
    token = sensor_services.sensor_token_issue(client_id=DEMO_SENSOR, need_script=False, now=NOW)
    for step in range(1, 5):
        moment = start + 15 * step
        sample = model.sample(moment)
        stored = sensor_services.sensor_readings_ingest(
            token=token.access_token,
            readings=[sensor_services.ReadingInput(value=sample.register_kwh)],
            now=datetime.fromtimestamp(moment, tz=UTC),
        )
        assert (stored.accepted, stored.rejected) == (1, 0)
    assert not RejectedReading.objects.exists()


def test_the_command_prints_progress_and_keeps_the_logins(settings: Any) -> None:
    out = StringIO()
    call_command("seed_demo", "--hours", "2", "--no-train", stdout=out)
    first = out.getvalue()
    assert "[demo]" in first
    assert "readings 1/1 day" in first
    assert f"demo login: {DEMO_HOUSEHOLD} /" in first

    out = StringIO()
    call_command("seed_demo", "--hours", "2", "--no-train", stdout=out)
    # The passwords are kept in the credentials file and printed again; nothing is seeded.
    assert "readings" not in out.getvalue()
    assert f"demo login: {DEMO_HOUSEHOLD} /" in out.getvalue()
    path = Path(settings.VAR_DIR) / "demo-credentials.json"
    credentials = json.loads(path.read_text(encoding="utf-8"))
    assert set(credentials) == {DEMO_ADMIN, DEMO_HOUSEHOLD}
