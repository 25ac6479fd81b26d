"""`manage.py backup` and `restore`: readings, users (who can still log in) and the history
tables come back after data was changed and deleted; on SQLite through the online backup API
(also while another connection holds a write transaction), on PostgreSQL through
pg_dump/pg_restore."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import connection

from energyleaf.audit.models import AuditEvent
from energyleaf.users.models import Household, User
from energyleaf.users.services import household_update
from energyleaf.users.tests.factories import TEST_PASSWORD, UserFactory
from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory, make_readings

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite backup needs the SQLite database"
)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql" or shutil.which("pg_dump") is None,
    reason="needs PostgreSQL and pg_dump/pg_restore on PATH",
)


def _world() -> dict[str, Any]:
    user = UserFactory(email="backup@example.org")
    household_update(user=user, data={"working_price_per_kwh": "0.3100"})
    sensor = SensorFactory(user=user, client_id="AA:BB:CC:00:00:01")
    make_readings(sensor, 50)
    return {"user": user, "sensor": sensor, "state": _state()}


def _state() -> dict[str, Any]:
    return {
        "readings": list(
            Reading.objects.order_by("sensor_id", "timestamp").values_list(
                "sensor_id", "timestamp", "value", "consumption"
            )
        ),
        "users": list(User.objects.order_by("pk").values_list("pk", "email", "password")),
        "user_history": list(
            User.history.order_by("history_id").values_list("history_id", "id", "email")
        ),
        "household_history": list(
            Household.history.order_by("history_id").values_list(
                "history_id", "working_price_per_kwh"
            )
        ),
        "sensor_history": list(
            Sensor.history.order_by("history_id").values_list("history_id", "client_id")
        ),
    }


def _damage(world: dict[str, Any]) -> None:
    """Delete the readings and the sensor, change the price and the password."""
    Reading.objects.all().delete()
    world["sensor"].delete()
    household_update(user=world["user"], data={"working_price_per_kwh": "0.9900"})
    user = User.objects.get(pk=world["user"].pk)
    user.set_password("another password entirely")
    user.save()
    assert _state() != world["state"]


def _assert_back(world: dict[str, Any]) -> None:
    state = _state()
    assert len(state["readings"]) == 50
    assert state == world["state"]
    assert authenticate(email="backup@example.org", password=TEST_PASSWORD) is not None
    assert AuditEvent.objects.filter(title="backup/restored").exists()


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_sqlite_backup_and_restore_bring_everything_back(tmp_path: Path) -> None:
    world = _world()
    target = tmp_path / "energyleaf-backup.sqlite3"

    call_command("backup", output=target)
    _damage(world)
    call_command("restore", input=target, yes=True)

    _assert_back(world)
    assert not (tmp_path / "energyleaf-backup.sqlite3.partial").exists()
    assert not Path(f"{target}-wal").exists()


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_sqlite_backup_runs_while_another_connection_writes(tmp_path: Path) -> None:
    world = _world()
    writer = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            f"DELETE FROM {Reading._meta.db_table}"  # noqa: S608 - our own table name
        )
        call_command("backup", output=tmp_path / "live.sqlite3")  # the writer keeps its lock
        writer.commit()
    finally:
        writer.close()
    assert Reading.objects.count() == 0  # the writer's change is committed...

    copy = sqlite3.connect(tmp_path / "live.sqlite3")
    try:  # ...and the backup holds the state before it, whole
        count = copy.execute(f"SELECT count(*) FROM {Reading._meta.db_table}").fetchone()  # noqa: S608
        check = copy.execute("PRAGMA integrity_check").fetchone()
    finally:
        copy.close()
    assert count == (len(world["state"]["readings"]),)
    assert check == ("ok",)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_restore_refuses_without_yes_and_foreign_files(tmp_path: Path) -> None:
    _world()
    target = tmp_path / "b.sqlite3"
    call_command("backup", output=target)
    with pytest.raises(CommandError, match="exists"):
        call_command("backup", output=target)
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", input=target)
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    with pytest.raises(CommandError, match="not a SQLite file"):
        call_command("restore", input=not_a_backup, yes=True)
    pg_archive = tmp_path / "dump.pgdump"
    pg_archive.write_bytes(b"PGDMP\x01\x0e\x00")
    with pytest.raises(CommandError, match="not a SQLite file"):
        call_command("restore", input=pg_archive, yes=True)
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(CommandError, match="not an Energyleaf database"):
        call_command("restore", input=empty, yes=True)
    assert Reading.objects.count() == 50  # nothing was touched


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_postgresql_dump_and_restore_bring_everything_back(tmp_path: Path) -> None:
    world = _world()
    target = tmp_path / "energyleaf.pgdump"

    call_command("backup", output=target)
    assert target.read_bytes().startswith(b"PGDMP")
    _damage(world)
    call_command("restore", input=target, yes=True)

    _assert_back(world)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_postgresql_restore_refuses_a_sqlite_file(tmp_path: Path) -> None:
    _world()
    sqlite_file = tmp_path / "b.sqlite3"
    sqlite3.connect(sqlite_file).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(CommandError, match="not a pg_dump custom-format archive"):
        call_command("restore", input=sqlite_file, yes=True)
    assert Reading.objects.count() == 50
