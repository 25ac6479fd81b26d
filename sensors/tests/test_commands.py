from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from energyleaf.users.models import User
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Sensor

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("register_sensor", *args, stdout=out)
    return out.getvalue()


def test_registers_sensor_for_existing_user():
    user = UserFactory(email="home@example.org")
    output = _run("--client-id", "aa:bb:cc:dd:ee:ff", "--user", "HOME@example.org")
    sensor = Sensor.objects.get()
    assert sensor.client_id == "AA:BB:CC:DD:EE:FF"
    assert sensor.user == user
    assert sensor.sensor_type == "electricity"
    assert sensor.needs_script is False
    assert "Registered sensor AA:BB:CC:DD:EE:FF" in output


def test_unknown_user_without_create_user_is_an_error_and_writes_nothing():
    with pytest.raises(CommandError, match="--create-user"):
        _run("--client-id", "AA:BB:CC:DD:EE:FF", "--user", "nobody@example.org")
    assert not Sensor.objects.exists()
    assert not User.objects.exists()


def test_create_user_creates_household_user():
    _run("--client-id", "AA:BB:CC:DD:EE:FF", "--user", "new@example.org", "--create-user")
    user = User.objects.get(email="new@example.org")
    assert user.household.time_zone == "Europe/Berlin"
    assert not user.has_usable_password()
    assert Sensor.objects.get().user == user


@pytest.mark.parametrize("existing", ["AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"])
def test_duplicate_mac_in_any_case_is_an_error(existing):
    UserFactory(email="a@example.org")
    UserFactory(email="b@example.org")
    _run("--client-id", existing, "--user", "a@example.org")
    with pytest.raises(CommandError, match="exists already"):
        _run("--client-id", "Aa:bB:cC:Dd:eE:Ff", "--user", "b@example.org")
    assert Sensor.objects.count() == 1


def test_invalid_mac_is_an_error_and_rolls_back_created_user():
    with pytest.raises(CommandError, match="MAC"):
        _run("--client-id", "not-a-mac", "--user", "new@example.org", "--create-user")
    assert not User.objects.exists()
    assert not Sensor.objects.exists()


def test_script_file_and_gas_type(tmp_path):
    UserFactory(email="a@example.org")
    script = tmp_path / "sml.txt"
    script.write_text(">D\n>B\n=>sensor53 r\n>M 1\n", encoding="utf-8")
    _run(
        "--client-id", "AA:BB:CC:DD:EE:01", "--user", "a@example.org",
        "--type", "gas", "--script-file", str(script),
    )  # fmt: skip
    sensor = Sensor.objects.get()
    assert sensor.sensor_type == "gas"
    assert sensor.script.startswith(">D")
    assert sensor.needs_script is True


def test_rotations_and_explicit_needs_script():
    UserFactory(email="a@example.org")
    _run("--client-id", "AA:BB:CC:DD:EE:01", "--user", "a@example.org", "--rotations", "75")
    sensor = Sensor.objects.get()
    assert sensor.analog_rotations_per_kwh == 75
    assert sensor.needs_script is True


def test_missing_script_file_is_an_error(tmp_path):
    UserFactory(email="a@example.org")
    with pytest.raises(CommandError, match="script file"):
        _run(
            "--client-id", "AA:BB:CC:DD:EE:01", "--user", "a@example.org",
            "--script-file", str(tmp_path / "missing.txt"),
        )  # fmt: skip


def test_zero_rotations_is_an_error():
    UserFactory(email="a@example.org")
    with pytest.raises(CommandError, match="rotations"):
        _run("--client-id", "AA:BB:CC:DD:EE:01", "--user", "a@example.org", "--rotations", "0")
