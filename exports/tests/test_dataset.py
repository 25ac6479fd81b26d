"""Research dataset export jobs: exact files against the stored rows, manifest, pseudonyms,
idempotent re-runs, progress, failures, redelivery after a killed worker, clean-up."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.conf import LazySettings
from django.db import OperationalError, connection
from django.utils import timezone

from analytics.models import Device, Sequence
from analytics.services.households import households_delete
from analytics.tests.factories import DeviceFactory, DevicePeakFactory
from energyleaf.schedule import default_entry
from energyleaf.tests.helpers import utc
from energyleaf.users.models import User
from energyleaf.users.tests.factories import UserFactory
from exports.models import ExportJob
from exports.selectors import dataset as dataset_selectors
from exports.services import dataset as dataset_services
from exports.services.dataset import export_job_create, export_job_run, export_jobs_cleanup
from exports.services.pseudonyms import pseudonym, pseudonym_key
from exports.tasks import cleanup_exports_task, run_export_job_task
from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory, make_readings
from sensors.tests.helpers import reading

pytestmark = pytest.mark.django_db

Status = ExportJob.Status
READING_HEADER = (
    "household,sensor,sensor_type,timestamp,value,consumption,value_out,inserted,"
    "value_current,flags,quality\n"
)
SEQUENCE_HEADER = (
    "household,sensor,kind,start,end,average_power_w,average_peak_power_w,energy_kwh,"
    "base_load_w,device_names,device_categories\n"
)


def add_sequence(sensor: Sensor, start: datetime, minutes: int, kind: str = "peak") -> Sequence:
    return Sequence.objects.create(
        sensor=sensor,
        kind=kind,
        start=start,
        end=start + timedelta(minutes=minutes),
        average_power_w=1500.0,
        average_peak_power_w=1350.5,
        energy_kwh=0.25,
        base_load_w=None if kind == "anomaly" else 150.0,
    )


def confirm(user: User, sequence: Sequence, name: str, category: str) -> Device:
    device = DeviceFactory(user=user, name=name, category=category)
    DevicePeakFactory(device=device, sequence=sequence)
    return device


@pytest.fixture
def world() -> dict[str, Any]:
    """Two households (one with readings over the Berlin spring DST change, hostile device names)
    and a third that is never selected."""
    anna = UserFactory(first_name="Anna", last_name="Secret", email="anna@example.org")
    bert = UserFactory(first_name="Bert", email="bert@example.org")
    other = UserFactory(email="other@example.org")
    sensor_a = SensorFactory(user=anna, client_id="AA:AA:AA:00:00:01")
    sensor_b = SensorFactory(
        user=bert, client_id="BB:BB:BB:00:00:02", sensor_type=Sensor.SensorType.GAS
    )
    sensor_o = SensorFactory(user=other, client_id="CC:CC:CC:00:00:03")
    # Berlin: 2024-03-31 01:00 UTC is 02:00 CET → 03:00 CEST.
    reading(sensor_a, utc(2024, 3, 31, 0, 59, 59, 999000), "999.9", "0.1")
    reading(sensor_a, utc(2024, 3, 31, 1, 0), "1000.000000", "0", flags=4)
    reading(
        sensor_a,
        utc(2024, 3, 31, 1, 30, 0, 250000),
        "1000.5",
        "0.5",
        value_out=Decimal("10.250000"),
        inserted=Decimal("0.05"),
        value_current=Decimal(-150),
        flags=9,
    )
    reading(sensor_a, utc(2024, 3, 31, 2, 0), "1001.5", "1", value_current=Decimal(1500))
    reading(sensor_a, utc(2024, 4, 1), "1100", "98.5")  # after the range
    reading(sensor_b, utc(2024, 3, 31, 12), "5.123", "0.001")
    reading(sensor_o, utc(2024, 3, 31, 12), "7", "7")
    peak = add_sequence(sensor_a, utc(2024, 3, 31, 1, 10), 10)
    confirm(anna, peak, '=HYPERLINK("http://x")', "kettle")
    confirm(anna, peak, "@SUM(1)", "oven")
    anomaly = add_sequence(sensor_a, utc(2024, 3, 31, 3), 30, kind="anomaly")
    confirm(anna, anomaly, "-2+3", "others")
    plain = add_sequence(sensor_a, utc(2024, 3, 31, 5), 5)
    confirm(anna, plain, "-150", "fridge")  # a number: left as it is
    late = add_sequence(sensor_a, utc(2024, 3, 31, 6), 5)
    confirm(anna, late, "+1+1|\tTab", "freezer")
    confirm(anna, late, "\rCR", "lighting")
    add_sequence(sensor_o, utc(2024, 3, 31, 5), 5)
    return {"anna": anna, "bert": bert, "other": other, "a": sensor_a, "b": sensor_b}


def run_job(capture: Callable[..., Any], **fields: Any) -> ExportJob:
    with capture(execute=True):
        job = export_job_create(requested_by=None, **fields)
    job.refresh_from_db()
    return job


def files_of(job: ExportJob) -> dict[str, bytes]:
    folder = dataset_services.export_job_folder(job)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def text_of(job: ExportJob, name: str) -> str:
    return gzip.decompress(files_of(job)[name]).decode()


def readable(name: str, data: bytes) -> str:
    """A file's content as text (a Parquet file: its values as CSV, and its metadata)."""
    if name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        return table.to_pandas().to_csv() + str(table.schema)
    return gzip.decompress(data).decode() if name.endswith(".gz") else data.decode()


def names(user: User, sensor: Sensor) -> tuple[str, str]:
    key = pseudonym_key()
    return pseudonym(key, "household", user.pk), pseudonym(key, "sensor", sensor.pk)


def test_job_writes_exact_files_in_utc_over_the_dst_change(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(
        django_capture_on_commit_callbacks,
        households=[world["anna"].household, world["bert"].household],
        start=utc(2024, 3, 30, 23),  # the Berlin day 2024-03-31 (23 hours)
        end=utc(2024, 3, 31, 22),
    )

    assert job.status == Status.SUCCEEDED, job.error
    assert job.attempts == 1
    assert job.started_at is not None
    assert job.finished_at is not None
    ha, sa = names(world["anna"], world["a"])
    hb, sb = names(world["bert"], world["b"])
    first, second = sorted([(world["a"].pk, ha, sa, "electricity"), (world["b"].pk, hb, sb, "gas")])
    rows_a = (
        f"{ha},{sa},electricity,2024-03-31T00:59:59.999Z,999.9,0.1,,,,0,\n"
        f"{ha},{sa},electricity,2024-03-31T01:00:00.000Z,1000,0,,,,4,meter_replaced\n"
        f"{ha},{sa},electricity,2024-03-31T01:30:00.250Z,1000.5,0.5,10.25,0.05,-150,9,"
        "value_current_replaced|server_time\n"
        f"{ha},{sa},electricity,2024-03-31T02:00:00.000Z,1001.5,1,,,1500,0,\n"
    )
    rows_b = f"{hb},{sb},gas,2024-03-31T12:00:00.000Z,5.123,0.001,,,,0,\n"
    by_sensor = {world["a"].pk: rows_a, world["b"].pk: rows_b}
    assert (
        text_of(job, "readings.csv.gz")
        == READING_HEADER + by_sensor[first[0]] + by_sensor[second[0]]
    )
    assert text_of(job, "sequences.csv.gz") == SEQUENCE_HEADER + (
        f"{ha},{sa},peak,2024-03-31T01:10:00.000Z,2024-03-31T01:20:00.000Z,1500,1350.5,0.25,150,"
        '"\'=HYPERLINK(""http://x"")|@SUM(1)",kettle|oven\n'
        f"{ha},{sa},anomaly,2024-03-31T03:00:00.000Z,2024-03-31T03:30:00.000Z,1500,1350.5,0.25,,"
        "'-2+3,others\n"
        f"{ha},{sa},peak,2024-03-31T05:00:00.000Z,2024-03-31T05:05:00.000Z,1500,1350.5,0.25,150,"
        "-150,fridge\n"
        f"{ha},{sa},peak,2024-03-31T06:00:00.000Z,2024-03-31T06:05:00.000Z,1500,1350.5,0.25,150,"
        '"\'+1+1/\tTab|\rCR",freezer|lighting\n'
    )
    assert job.rows_written == job.rows_expected == 9


def test_manifest_documents_the_files_and_checksums_match(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(
        django_capture_on_commit_callbacks,
        households=[world["anna"].household],
        start=utc(2024, 3, 30, 23),
        end=utc(2024, 3, 31, 22),
        include_sequences=False,
    )

    files = files_of(job)
    assert sorted(files) == [
        "households.csv.gz",
        "households.parquet",
        "manifest.json",
        "readings.csv.gz",
        "readings.parquet",
    ]
    for name, data in files.items():
        assert job.checksums[name] == hashlib.sha256(data).hexdigest()
    assert job.size_bytes == sum(len(data) for data in files.values())
    assert job.file_path == f"job-{job.pk}"
    manifest = json.loads(files["manifest.json"])
    assert manifest["time_zone"] == "UTC"
    assert manifest["code_version"]
    assert (
        manifest["created"]
        == job.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
    parameters = manifest["parameters"]
    assert parameters["start"] == "2024-03-30T23:00:00.000Z"
    assert parameters["end"] == "2024-03-31T22:00:00.000Z"
    assert parameters["households"] == [names(world["anna"], world["a"])[0]]
    assert (parameters["include_readings"], parameters["include_sequences"]) == (True, False)
    entries = {entry["name"]: entry for entry in manifest["files"]}
    assert sorted(entries) == sorted(name for name in files if name != "manifest.json")
    entry = entries["readings.csv.gz"]
    assert entry["rows"] == 4
    assert entry["sha256"] == job.checksums["readings.csv.gz"]
    units = {column["name"]: column["unit"] for column in entry["columns"]}
    assert units["timestamp"] == "UTC"
    assert units["value_current"] == "W"
    assert all(column["description"] for column in entry["columns"])
    assert entries["readings.parquet"]["rows"] == 4
    assert entries["readings.parquet"]["columns"] == entry["columns"]
    assert entries["households.csv.gz"]["rows"] == entries["households.parquet"]["rows"] == 1


def test_no_names_emails_or_macs_in_the_dataset(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(django_capture_on_commit_callbacks)  # every household, open range

    everything = "".join(readable(name, data) for name, data in files_of(job).items())
    for user in (world["anna"], world["bert"], world["other"]):
        assert user.email not in everything
        assert user.first_name not in everything
        assert user.last_name not in everything
    for sensor in Sensor.objects.all():
        assert sensor.client_id not in everything
    parameters = json.loads(files_of(job)["manifest.json"])["parameters"]
    assert parameters["households"] == "all"
    assert parameters["start"] is None
    # An open end is the request time, so a later re-run writes the same rows.
    assert parameters["end"] == job.created_at.astimezone(UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    assert job.rows_written == Reading.objects.count() + Sequence.objects.count()


def test_running_again_writes_the_same_bytes_without_duplicates(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(django_capture_on_commit_callbacks, households=[world["anna"].household])
    before = files_of(job)

    with django_capture_on_commit_callbacks(execute=True):
        dataset_services.export_job_rerun(job=job)
    job.refresh_from_db()

    assert job.status == Status.SUCCEEDED
    assert files_of(job) == before
    assert text_of(job, "readings.csv.gz").count("\n") == 1 + 5


def test_pseudonyms_are_stable_per_key_and_change_with_it(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, settings: LazySettings
) -> None:
    def households_in(job: ExportJob) -> set[str]:
        rows = csv.DictReader(io.StringIO(text_of(job, "readings.csv.gz")))
        return {row["household"] for row in rows}

    selected = [world["anna"].household]
    expected = names(world["anna"], world["a"])[0]
    first = run_job(django_capture_on_commit_callbacks, households=selected)
    second = run_job(django_capture_on_commit_callbacks, households=selected)
    settings.EXPORT_PSEUDONYM_KEY = "another-key"
    third = run_job(django_capture_on_commit_callbacks, households=selected)

    assert households_in(first) == households_in(second) == {expected}
    assert households_in(third).isdisjoint(households_in(first))
    assert len(next(iter(households_in(third)))) == 20


def test_progress_is_stored_every_n_rows(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    make_readings(world["a"], 23, start=utc(2024, 5, 1))
    stored: list[int] = []
    original = dataset_services._Progress.store

    def spy(self: dataset_services._Progress) -> None:
        original(self)
        stored.append(ExportJob.objects.get(pk=self.job_id).rows_written)

    monkeypatch.setattr(dataset_services._Progress, "store", spy)
    monkeypatch.setattr(dataset_services, "PROGRESS_EVERY_ROWS", 10)
    monkeypatch.setattr(dataset_selectors, "SLICE_ROWS", 4)
    job = run_job(
        django_capture_on_commit_callbacks,
        households=[world["anna"].household],
        include_sequences=False,
    )

    assert job.rows_written == job.rows_expected == 28
    assert stored == sorted(stored)
    assert len(stored) >= 3
    assert stored[0] < 28
    assert stored[-1] == 28
    lines = text_of(job, "readings.csv.gz").splitlines()[1:]
    stamps = [line.split(",")[3] for line in lines]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 28


def test_slices_cover_the_range_exactly(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset_selectors, "SLICE_ROWS", 3)
    make_readings(world["a"], 10, start=utc(2024, 5, 1))
    sensor = dataset_selectors.dataset_sensors(user_ids=[world["anna"].pk], key=b"k")[0]
    start, end = utc(2024, 3, 31, 1), utc(2024, 5, 1, 0, 2)

    slices = dataset_selectors.reading_slices(sensor=sensor, start=start, end=end)
    whole = b"".join(dataset_selectors.reading_blocks(sensor=sensor, start=start, end=end))
    pieces = b"".join(
        b"".join(dataset_selectors.reading_blocks(sensor=sensor, start=a, end=b)) for a, b in slices
    )

    assert len(slices) == 4  # 3 + 9 readings in range: 12 → 4 slices of 3
    assert slices[0][0] == start
    assert slices[-1][1] == end
    assert pieces == whole
    assert whole.count(b"\n") == 12


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY needs PostgreSQL")
def test_copy_and_cursor_write_identical_dataset_bytes(world: dict[str, Any]) -> None:
    for sensor in dataset_selectors.dataset_sensors(user_ids=None, key=b"k"):
        prefix = [sensor.household, sensor.sensor, sensor.sensor_type]
        for start, end in ((None, None), (utc(2024, 3, 31, 1), utc(2024, 3, 31, 2))):
            copied = b"".join(dataset_selectors._readings_copy(sensor, prefix, start, end))
            iterated = b"".join(dataset_selectors._readings_iterated(sensor, prefix, start, end))
            assert copied == iterated


def test_a_failing_job_is_failed_with_its_error_and_leaves_no_files(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, settings: LazySettings
) -> None:
    blocker = Path(settings.EXPORTS_ROOT)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")

    job = run_job(django_capture_on_commit_callbacks)

    assert job.status == Status.FAILED
    assert "FileExistsError" in job.error or "NotADirectoryError" in job.error
    assert job.finished_at is not None


def test_database_errors_put_the_job_back_for_a_retry(
    world: dict[str, Any], monkeypatch: Any
) -> None:
    job = ExportJob.objects.create()

    def broken(**kwargs: Any) -> Any:
        raise OperationalError("connection lost")

    monkeypatch.setattr(dataset_selectors, "dataset_sensors", broken)
    with pytest.raises(OperationalError):
        export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == Status.PENDING
    assert "connection lost" in job.error


def test_a_job_left_running_by_a_killed_worker_is_redone(world: dict[str, Any]) -> None:
    job = ExportJob.objects.create(status=Status.RUNNING, attempts=1, rows_written=3)
    folder = dataset_services.export_job_folder(job)
    folder.mkdir(parents=True)
    (folder / ".readings.csv.gz.dead.tmp").write_bytes(b"half")  # what the dead worker left

    run_export_job_task.delay(job.pk)  # the redelivered message

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.attempts == 2
    assert sorted(job.checksums) == [
        "households.csv.gz",
        "households.parquet",
        "manifest.json",
        "readings.csv.gz",
        "readings.parquet",
        "sequences.csv.gz",
        "sequences.parquet",
    ]


def test_finished_jobs_ignore_duplicate_deliveries_and_give_up_after_attempts(
    world: dict[str, Any],
) -> None:
    done = ExportJob.objects.create(status=Status.SUCCEEDED, attempts=1)
    dying = ExportJob.objects.create(status=Status.RUNNING, attempts=3)

    assert export_job_run(job_id=done.pk) is None
    assert export_job_run(job_id=dying.pk) is None
    assert export_job_run(job_id=999_999) is None

    done.refresh_from_db()
    dying.refresh_from_db()
    assert (done.status, done.attempts) == (Status.SUCCEEDED, 1)
    assert dying.status == Status.FAILED
    assert "3 attempts" in dying.error


def test_task_is_acknowledged_late_and_redelivered_when_the_worker_dies() -> None:
    assert run_export_job_task.name == "exports.run_export_job"
    assert run_export_job_task.acks_late is True
    assert run_export_job_task.reject_on_worker_lost is True


def test_cleanup_expires_old_files_and_requeues_stuck_jobs(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, settings: LazySettings
) -> None:
    settings.EXPORT_RETENTION_DAYS = 7
    settings.EXPORT_STUCK_MINUTES = 60
    old = run_job(django_capture_on_commit_callbacks, households=[world["bert"].household])
    fresh = run_job(django_capture_on_commit_callbacks, households=[world["bert"].household])
    now = timezone.now()
    ExportJob.objects.filter(pk=old.pk).update(finished_at=now - timedelta(days=8))
    stuck = ExportJob.objects.create(
        status=Status.RUNNING, attempts=1, heartbeat_at=now - timedelta(minutes=61)
    )
    alive = ExportJob.objects.create(
        status=Status.RUNNING, attempts=1, heartbeat_at=now - timedelta(minutes=5)
    )
    orphan = Path(settings.EXPORTS_ROOT) / "job-999999"
    orphan.mkdir()
    (orphan / "readings.csv.gz").write_bytes(b"x")
    import os

    os.utime(orphan, (0, 0))

    with django_capture_on_commit_callbacks(execute=True):
        cleanup_exports_task.delay()

    for job in (old, fresh, stuck, alive):
        job.refresh_from_db()
    assert old.status == Status.EXPIRED
    assert not dataset_services.export_job_folder(old).exists()
    assert fresh.status == Status.SUCCEEDED
    assert dataset_services.export_job_folder(fresh).exists()
    assert stuck.status == Status.SUCCEEDED  # queued again and run (eager)
    assert stuck.attempts == 2
    assert alive.status == Status.RUNNING
    assert not orphan.exists()
    result = export_jobs_cleanup()
    assert (result.expired, result.requeued, result.orphans_removed) == (0, 0, 0)


def test_cleanup_is_scheduled_daily() -> None:
    from energyleaf.celery import app

    entry = default_entry("cleanup-exports")
    assert (entry.task, entry.minute, entry.hour) == ("exports.cleanup_exports", "17", "3")
    assert "exports.cleanup_exports" in app.tasks


def test_a_selection_whose_households_were_deleted_exports_nothing(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = export_job_create(requested_by=None, households=[world["bert"].household])
    assert job.all_households is False
    households_delete(users=[world["bert"]], keep_readings=False)

    export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert text_of(job, "readings.csv.gz") == READING_HEADER
    assert json.loads(files_of(job)["manifest.json"])["parameters"]["households"] == []


# --- the households file and the Parquet edition ----------------------------------------------


def csv_rows(job: ExportJob, name: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file of the job, read by the csv module."""
    header, *rows = csv.reader(io.StringIO(text_of(job, name), newline=""))
    return header, rows


def expected_value(spelling: str, cell: str) -> Any:
    """What the Parquet edition read by pandas holds for a CSV cell of a column of this type."""
    if spelling == "string":
        return cell
    if cell == "":
        return None
    if spelling.startswith("timestamp"):
        return pd.Timestamp(cell)
    if spelling.startswith("decimal128"):
        return Decimal(cell)
    if spelling == "double":
        return float(cell)
    if spelling == "bool":
        return {"true": True, "false": False}[cell]
    return int(cell)


def test_the_parquet_edition_holds_exactly_the_csv_values(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    world["anna"].household.household_size = 2
    world["anna"].household.save()
    job = run_job(django_capture_on_commit_callbacks)  # every household, open range
    files = files_of(job)
    manifest = json.loads(files["manifest.json"])
    entries = {entry["name"]: entry for entry in manifest["files"]}
    assert sorted(entries) == sorted(name for name in files if name != "manifest.json")
    for name, data in files.items():
        assert job.checksums[name] == hashlib.sha256(data).hexdigest()
        if name != "manifest.json":
            assert entries[name]["sha256"] == job.checksums[name]
            assert entries[name]["bytes"] == len(data)

    for stem in ("readings", "sequences", "households"):
        header, rows = csv_rows(job, f"{stem}.csv.gz")
        frame = pd.read_parquet(io.BytesIO(files[f"{stem}.parquet"]))
        columns = entries[f"{stem}.parquet"]["columns"]
        assert list(frame.columns) == header == [column["name"] for column in columns]
        assert len(frame) == len(rows) == entries[f"{stem}.csv.gz"]["rows"]
        assert entries[f"{stem}.parquet"]["rows"] == len(rows)
        assert len(rows) > 0
        for index, column in enumerate(columns):
            values = frame[column["name"]].tolist()
            expected = [expected_value(column["type"], row[index]) for row in rows]
            got = [None if value is None or value is pd.NaT or value != value else value
                   for value in values]  # fmt: skip
            assert got == expected, (stem, column["name"])
            dtype = str(frame[column["name"]].dtype)
            if column["type"].startswith("timestamp"):
                assert dtype == "datetime64[ms, UTC]"
            elif column["type"] == "double":
                assert dtype == "float64"
            elif column["type"].startswith("decimal128"):
                assert all(isinstance(v, Decimal) for v in values if v is not None)
            elif column["type"] == "int16" and None not in expected:
                assert dtype == "int16"

    readings = pd.read_parquet(io.BytesIO(files["readings.parquet"]))
    # Exact decimals and the neutralised free text survive the round trip.
    assert Decimal("10.2500") in readings["value_out"].tolist()
    sequences = pd.read_parquet(io.BytesIO(files["sequences.parquet"]))
    assert '\'=HYPERLINK("http://x")|@SUM(1)' in sequences["device_names"].tolist()
    assert "'+1+1/\tTab|\rCR" in sequences["device_names"].tolist()
    # The households file's pseudonyms are those of the readings and sequences files.
    households = pd.read_parquet(io.BytesIO(files["households.parquet"]))
    assert set(households["household"]) == set(readings["household"]) | set(sequences["household"])
    assert set(households["household"]) == {
        names(world[person], world["a"])[0] for person in ("anna", "bert", "other")
    }
    assert list(households["household"]) == sorted(households["household"])


def test_households_file_carries_arms_covariates_and_deleted_households(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    from analytics.services.households import households_delete
    from energyleaf.users.models import Household

    anna = world["anna"].household
    anna.app_version = Household.AppVersion.SUPPORT
    anna.household_size = 3
    anna.property_type = Household.Property.HOUSE
    anna.living_space_m2 = 85
    anna.hot_water = Household.HotWater.ELECTRIC
    anna.tariff = Household.Tariff.ECO
    anna.save()
    bert_name = names(world["bert"], world["b"])[0]
    households_delete(users=[world["bert"]], keep_readings=True)

    job = run_job(django_capture_on_commit_callbacks)

    header, rows = csv_rows(job, "households.csv.gz")
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_name[names(world["anna"], world["a"])[0]] == {
        "household": names(world["anna"], world["a"])[0],
        "arm": "2",
        "arm_name": "support",
        "household_size": "3",
        "property_type": "house",
        "living_space_m2": "85",
        "hot_water": "electric",
        "tariff": "eco",
        "deleted": "false",
    }
    assert by_name[bert_name] == {
        "household": bert_name,
        "arm": "",
        "arm_name": "",
        "household_size": "",
        "property_type": "",
        "living_space_m2": "",
        "hot_water": "",
        "tariff": "",
        "deleted": "true",
    }
    other = by_name[names(world["other"], world["a"])[0]]
    assert (other["arm"], other["arm_name"], other["tariff"]) == ("0", "transparency", "basic")
    # The deleted household's kept readings carry the same pseudonym.
    _, readings = csv_rows(job, "readings.csv.gz")
    assert bert_name in {row[0] for row in readings}
    frame = pd.read_parquet(io.BytesIO(files_of(job)["households.parquet"]))
    deleted = frame.set_index("household").loc[bert_name]
    assert bool(deleted["deleted"]) is True
    assert pd.isna(deleted["arm"])
    assert str(frame["deleted"].dtype) == "bool"


def test_households_file_lists_only_households_whose_periods_meet_the_range(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    job = run_job(
        django_capture_on_commit_callbacks,
        households=[world["anna"].household],
        start=utc(2024, 3, 30, 23),
        end=utc(2024, 3, 31, 22),
    )
    _, rows = csv_rows(job, "households.csv.gz")
    assert [row[0] for row in rows] == [names(world["anna"], world["a"])[0]]

    empty = run_job(django_capture_on_commit_callbacks, households=[UserFactory().household])
    assert text_of(empty, "households.csv.gz").count("\n") == 1  # the header only
    assert len(pd.read_parquet(io.BytesIO(files_of(empty)["households.parquet"]))) == 0


def test_parquet_is_written_in_row_groups_with_documented_fields(
    world: dict[str, Any], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    make_readings(world["a"], 23, start=utc(2024, 5, 1))
    monkeypatch.setattr(dataset_services, "ROW_GROUP_ROWS", 10)
    monkeypatch.setattr(dataset_selectors, "SLICE_ROWS", 4)
    job = run_job(django_capture_on_commit_callbacks, households=[world["anna"].household])

    parquet = pq.ParquetFile(io.BytesIO(files_of(job)["readings.parquet"]))
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert sizes == [10, 10, 8]
    field = parquet.schema_arrow.field("value_current")
    assert field.metadata[b"unit"] == b"W"
    _, rows = csv_rows(job, "readings.csv.gz")
    assert parquet.read().column("timestamp").to_pylist() == [
        pd.Timestamp(row[3]).to_pydatetime() for row in rows
    ]
