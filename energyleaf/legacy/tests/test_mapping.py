"""The pure mapping of old values: password hashes, scripts, statuses, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.hashers import check_password

from energyleaf.legacy.compute.mapping import (
    OldSensorId,
    UnknownHashError,
    django_password,
    experiment_status,
    plan_periods,
    sensor_script,
)
from energyleaf.legacy.tests.oldsource import argon2id_hash, bcrypt_hash

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
T = datetime(2024, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    "make",
    [argon2id_hash, lambda p: bcrypt_hash(p, b"2a"), lambda p: bcrypt_hash(p, b"2b")],
    ids=["argon2id", "bcrypt-2a", "bcrypt-2b"],
)
def test_old_hashes_check_the_old_password_with_djangos_hashers(make):
    encoded = django_password(make("Geheim 123"))
    assert encoded.split("$", 1)[0] in {"argon2", "bcrypt"}
    assert check_password("Geheim 123", encoded)
    assert not check_password("geheim 123", encoded)


def test_bcrypt_2y_is_read_as_2b():
    old = bcrypt_hash("pw", b"2b")
    assert django_password("$2y$" + old[4:]) == "bcrypt$" + old


@pytest.mark.parametrize("text", ["", "plain", "pbkdf2_sha256$1$x$y", "$2b$short"])
def test_unknown_hashes_are_refused(text):
    with pytest.raises(UnknownHashError):
        django_password(text)


def test_scripts_and_rotations():
    assert sensor_script("375") == ("", 375)
    assert sensor_script(" 96 ") == ("", 96)
    assert sensor_script(">D\n1,77070100010800ff") == (">D\n1,77070100010800ff", None)
    assert sensor_script(None) == ("", None)
    assert sensor_script("0") == ("0", None)


def test_statuses():
    assert experiment_status(None) == "registered"
    assert experiment_status("third_finished") == "third_finished"
    with pytest.raises(ValueError, match="unknown"):
        experiment_status("paused")


def test_a_reassigned_sensor_gets_one_period_per_household():
    old = [
        OldSensorId("now", "bob", T + timedelta(days=10), T + timedelta(days=20)),
        OldSensorId("before", "carol", T, T + timedelta(days=5)),
    ]
    periods, problems = plan_periods(
        old, current_sensor_id="now", current_user_id="bob", origin=ORIGIN
    )
    assert problems == []
    assert [(p.user_id, p.valid_from, p.valid_to) for p in periods] == [
        ("carol", ORIGIN, T + timedelta(days=10)),
        ("bob", T + timedelta(days=10), None),
    ]


def test_an_unassigned_sensor_closes_after_its_last_reading_and_gaps_stay_nobodys():
    old = [
        OldSensorId("a", "ann", T, T + timedelta(days=1)),
        OldSensorId("b", None, T + timedelta(days=2), T + timedelta(days=3)),
        OldSensorId("c", "ann", T + timedelta(days=4), T + timedelta(days=5)),
    ]
    periods, _ = plan_periods(old, current_sensor_id="c", current_user_id=None, origin=ORIGIN)
    assert [(p.user_id, p.valid_from, p.valid_to) for p in periods] == [
        ("ann", ORIGIN, T + timedelta(days=2)),
        ("ann", T + timedelta(days=4), T + timedelta(days=5) + US),
    ]


def test_consecutive_ids_of_one_household_merge_and_a_current_id_without_readings_opens():
    old = [
        OldSensorId("a", "ann", T, T + timedelta(days=1)),
        OldSensorId("b", "ann", T + timedelta(days=2), T + timedelta(days=3)),
        OldSensorId("c", "ben", None, None),
    ]
    periods, _ = plan_periods(old, current_sensor_id="c", current_user_id="ben", origin=ORIGIN)
    assert [(p.user_id, p.valid_from, p.valid_to, p.sensor_ids) for p in periods] == [
        ("ann", ORIGIN, T + timedelta(days=3) + US, ("a", "b")),
        ("ben", T + timedelta(days=3) + US, None, ("c",)),
    ]


def test_a_new_sensor_without_readings_opens_at_the_origin():
    periods, _ = plan_periods(
        [OldSensorId("a", "ann", None, None)],
        current_sensor_id="a",
        current_user_id="ann",
        origin=ORIGIN,
    )
    assert [(p.valid_from, p.valid_to) for p in periods] == [(ORIGIN, None)]


def test_overlapping_ids_are_a_problem():
    old = [
        OldSensorId("a", "ann", T, T + timedelta(days=3)),
        OldSensorId("b", "ben", T + timedelta(days=2), T + timedelta(days=4)),
    ]
    periods, problems = plan_periods(
        old, current_sensor_id="b", current_user_id="ben", origin=ORIGIN
    )
    assert len(problems) == 1
    assert "overlap" in problems[0]
    assert [p.user_id for p in periods] == ["ann", "ben"]
