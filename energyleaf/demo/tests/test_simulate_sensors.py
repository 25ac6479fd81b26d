"""`manage.py simulate_sensors`: registers simulated sensors, runs them against a server (here the
fake one of `simulation.tests.helpers`) and writes the summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from energyleaf.users.models import User
from sensors.models import Sensor
from simulation.tests.helpers import FakeServer, fake_server


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with fake_server() as fake:
        yield fake


@pytest.mark.django_db
def test_command_registers_sensors_runs_and_writes_the_summary(server, tmp_path):
    summary_file = tmp_path / "summary.json"
    out = StringIO()
    args = ["--count", "2", "--interval", "0.2", "--duration", "1", "--url", server.url]
    args += ["--register", "--style", "pi", "--seed", "3", "--summary-file", str(summary_file)]
    call_command("simulate_sensors", *args, stdout=out)
    assert set(Sensor.objects.values_list("client_id", flat=True)) == {
        "5C:CF:7F:00:00:01",
        "5C:CF:7F:00:00:02",
    }
    assert set(User.objects.values_list("email", flat=True)) == {
        "sim-1@energyleaf.local",
        "sim-2@energyleaf.local",
    }
    assert Sensor.objects.filter(needs_script=True).count() == 2
    text = out.getvalue()
    assert "Registered 2 sensor(s) (2 new user(s)); 0 existed already." in text
    assert "Counters add up." in text
    data = json.loads(summary_file.read_text())
    assert data["counters"]["pi"]["clients"] == 2
    assert data["counters"]["pi"]["accepted"] >= 2

    out = StringIO()
    call_command("simulate_sensors", *args, stdout=out)
    assert "Registered 0 sensor(s) (0 new user(s)); 2 existed already." in out.getvalue()
    assert Sensor.objects.count() == 2


def test_command_rejects_a_bad_prefix():
    with pytest.raises(CommandError, match="prefix"):
        call_command("simulate_sensors", "--client-id-prefix", "XX", "--duration", "1")
