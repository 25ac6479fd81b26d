"""The classifier's time-of-day features: the household's local time (zone, daylight saving
time, offsets as written) and the same numbers in training, serving, `/api/v1/ml` and
`classify_readings`."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pytest
from rest_framework.test import APIClient

from analytics.compute.classifier import features as features_module
from analytics.compute.classifier.features import (
    FEATURE_NAMES,
    PowerSeries,
    intervals_from_readings,
    intervals_from_samples,
    peak_features,
    utc_offsets,
)
from analytics.compute.classifier.history import history_from_line
from analytics.compute.classifier.peaks import history_peaks
from analytics.compute.detection import instant_ns
from analytics.models import Sequence
from analytics.services.suggestions import suggestions_make
from simulation.households import HouseholdConfig, PlannedRun, simulate_household

from .factories import SensorFactory, readings_from_power

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SIN, COS = FEATURE_NAMES.index("local_hour_sin"), FEATURE_NAMES.index("local_hour_cos")
# Europe/Berlin switches to summer time at 01:00 UTC on 2024-03-31 and back on 2024-10-27.
SPRING = datetime(2024, 3, 31, tzinfo=UTC)
AUTUMN = datetime(2024, 10, 27, tzinfo=UTC)
NS = 1_000_000_000


def _angle(hours: float) -> tuple[float, float]:
    angle = 2 * math.pi * hours / 24
    return math.sin(angle), math.cos(angle)


def _constant_load(
    start: datetime, minutes: int, zone: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], PowerSeries]:
    """Readings every 15 s over a 2 kW load of `minutes` from `start` (aware UTC)."""
    t = instant_ns(start) + np.arange(minutes * 4 + 1, dtype=np.int64) * 15 * NS
    kwh = np.full(t.size, 2000.0 * 15 / 3.6e6)
    kwh[0] = np.nan
    series = intervals_from_readings(
        t, kwh, start_ns=int(t[0]), end_ns=int(t[-1]), utc_offset_s=utc_offsets(t, zone)
    )
    return t, kwh, series


def test_utc_offsets_follow_daylight_saving_time() -> None:
    switch = instant_ns(SPRING + timedelta(hours=1))
    t = np.array([switch - NS, switch, switch + 3600 * NS], dtype=np.int64)
    assert utc_offsets(t, BERLIN).tolist() == [3600, 7200, 7200]
    back = instant_ns(AUTUMN + timedelta(hours=1))
    t = np.array([back - NS, back, back + NS], dtype=np.int64)
    assert utc_offsets(t, BERLIN).tolist() == [7200, 3600, 3600]
    assert utc_offsets(t, UTC).tolist() == [0, 0, 0]
    assert utc_offsets(t, timezone(timedelta(hours=-5))).tolist() == [-18000] * 3
    assert utc_offsets(t, NEW_YORK).tolist() == [-14400] * 3


def test_local_hour_is_the_energy_centre_in_the_households_time() -> None:
    # 07:00-07:20 UTC in winter: centre 07:10 UTC, 08:10 in Berlin
    _, _, utc = _constant_load(datetime(2024, 1, 18, 7, tzinfo=UTC), 20, UTC)
    _, _, berlin = _constant_load(datetime(2024, 1, 18, 7, tzinfo=UTC), 20, BERLIN)
    assert peak_features(utc)[[SIN, COS]] == pytest.approx(_angle(7 + 10 / 60), abs=1e-9)
    assert peak_features(berlin)[[SIN, COS]] == pytest.approx(_angle(8 + 10 / 60), abs=1e-9)
    # every other feature is the same
    np.testing.assert_array_equal(peak_features(utc)[:SIN], peak_features(berlin)[:SIN])


def test_local_hour_on_the_day_clocks_go_forward() -> None:
    # The same UTC clock time the day before and on the day summer time starts: 09:10 and 10:10
    _, _, before = _constant_load(SPRING - timedelta(hours=16), 20, BERLIN)
    _, _, on = _constant_load(SPRING + timedelta(hours=8), 20, BERLIN)
    assert peak_features(before)[[SIN, COS]] == pytest.approx(_angle(9 + 10 / 60), abs=1e-9)
    assert peak_features(on)[[SIN, COS]] == pytest.approx(_angle(10 + 10 / 60), abs=1e-9)
    # A load across the switch, 00:50-01:10 UTC: local 01:50-02:00 then 03:00-03:10, the clock
    # jumping an hour in the middle. Each interval takes the offset at its end, so the one
    # ending at 01:00 UTC is already at 03:00: 39 intervals before the jump, 41 after, and the
    # energy centre of the local clock times is 02:30 plus an hour / 80
    _, _, across = _constant_load(SPRING + timedelta(minutes=50), 20, BERLIN)
    assert across.utc_offset_s.tolist() == [3600] * 39 + [7200] * 41
    assert peak_features(across)[[SIN, COS]] == pytest.approx(_angle(2.5 + 1 / 80), abs=1e-9)


def test_the_energy_centre_weighs_the_excess_power() -> None:
    # 10 minutes at 3 kW, then 50 minutes at 200 W from 06:00 local: the centre is in the
    # first ten minutes (the excess is 0 afterwards), 06:05
    t = instant_ns(datetime(2024, 1, 18, 6, tzinfo=UTC)) + np.arange(241) * 15 * NS
    watts = np.where(np.arange(241) <= 40, 3000.0, 200.0)
    kwh = watts * 15 / 3.6e6
    series = intervals_from_readings(
        t, kwh, start_ns=int(t[0]), end_ns=int(t[-1]), utc_offset_s=np.zeros(t.size, np.int64)
    )
    assert peak_features(series)[[SIN, COS]] == pytest.approx(_angle(6 + 5 / 60), abs=1e-9)


def test_a_peak_across_midnight_stays_at_midnight() -> None:
    _, _, series = _constant_load(datetime(2024, 1, 18, 22, 50, tzinfo=UTC), 20, BERLIN)
    # 23:50-00:10 local: centre 00:00
    assert peak_features(series)[[SIN, COS]] == pytest.approx(_angle(0.0), abs=1e-9)


def _kettle_day(start: datetime, at_s: int) -> Any:
    config = HouseholdConfig(
        activities=(),
        planned=(PlannedRun("KETTLE/ECO-H1/mode0", at_s, duration_s=240, exact=True),),
        fridge=False,
        freezer_probability=0.0,
        unlabelled=False,
    )
    return simulate_household(start, 1, seed=5, config=config)


def test_readings_path_and_classify_readings_line_agree_on_a_dst_day() -> None:
    """The features of a peak from meter readings with the household's zone (serving) equal
    those from the same readings written with their local offsets (`classify_readings`)."""
    household = _kettle_day(SPRING, 8 * 3600)
    # Stored readings (and ISO 8601 text) keep microseconds
    t = household.timestamps_ns // 1000 * 1000
    kwh = household.consumption_kwh
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    local = [(epoch + timedelta(microseconds=int(ns) // 1000)).astimezone(BERLIN) for ns in t]
    readings = [
        [moment.isoformat(), r]
        for moment, r in zip(local, household.register_kwh.tolist(), strict=True)
    ]
    line = json.dumps({"day": 1, "readings": readings})
    _, t_line, kwh_line, offsets = history_from_line(line)
    np.testing.assert_array_equal(t_line, t)
    np.testing.assert_array_equal(offsets, utc_offsets(t, BERLIN))
    assert set(offsets.tolist()) == {3600, 7200}
    (peak,) = history_peaks(t, kwh)

    def features(times: Any, consumption: Any, local: Any) -> npt.NDArray[np.float64]:
        return peak_features(
            intervals_from_readings(
                times,
                consumption,
                start_ns=instant_ns(peak.start),
                end_ns=instant_ns(peak.end),
                utc_offset_s=local,
            )
        )

    served = features(t, kwh, utc_offsets(t, BERLIN))
    np.testing.assert_array_equal(served, features(t_line, kwh_line, offsets))
    # 08:00 UTC on that day is 10:00 in Berlin (summer time)
    hour = math.atan2(served[SIN], served[COS]) * 24 / (2 * math.pi)
    assert 10.0 < hour < 10.2


def test_samples_path_agrees_with_the_readings_path() -> None:
    """`/api/v1/ml` samples in local time with offset give the same features as the meter
    readings of the same peak in the household's zone."""
    t, _, series = _constant_load(SPRING + timedelta(hours=8), 20, BERLIN)
    samples = intervals_from_samples(t[1:], series.power_w, utc_offsets(t[1:], BERLIN))
    np.testing.assert_array_equal(peak_features(samples), peak_features(series))


def test_training_rows_use_utc_as_the_local_time() -> None:
    """The simulation's appliances run at UTC hours: its peaks' local hour is the UTC one."""
    from analytics.compute.classifier.training import household_dataset

    household = _kettle_day(datetime(2024, 1, 18, tzinfo=UTC), 7 * 3600)
    dataset = household_dataset(household, ["kettle"])
    (row,) = dataset.features
    hour = math.atan2(row[SIN], row[COS]) * 24 / (2 * math.pi)
    assert 7.0 < hour < 7.2


def test_utc_offsets_are_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    t = np.arange(3, dtype=np.int64) * 15 * NS
    with pytest.raises(ValueError, match="equal length"):
        PowerSeries(np.full(3, 15.0), np.ones(3), t, np.zeros(2, dtype=np.int64))
    assert features_module.FEATURE_NAMES[-2:] == ("local_hour_sin", "local_hour_cos")


# --- serving and /api/v1/ml ----------------------------------------------------------------------


def _captured(calls: Any) -> list[PowerSeries]:
    return [call.args[0] for call in calls.call_args_list]


@pytest.mark.django_db
def test_suggestions_use_the_households_time_zone(trained_model: Path) -> None:
    from energyleaf.users.tests.factories import UserFactory

    start = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
    user = UserFactory(household__time_zone="America/New_York")
    sensor = SensorFactory(user=user)
    readings = readings_from_power(
        sensor,
        start=start,
        end=start + timedelta(minutes=30),
        loads=[(start + timedelta(minutes=5), start + timedelta(minutes=20), 2000.0)],
    )
    peak = Sequence.objects.create(
        sensor=sensor,
        kind=Sequence.Kind.PEAK,
        start=start + timedelta(minutes=5),
        end=start + timedelta(minutes=20),
        average_power_w=2200.0,
        average_peak_power_w=2000.0,
        energy_kwh=0.55,
    )
    assert peak.household_key == user.pk
    with mock.patch("analytics.services.suggestions.peak_features", wraps=peak_features) as spy:
        assert suggestions_make(sequence_ids=[peak.pk]) == 1
    (series,) = _captured(spy)
    assert set(series.utc_offset_s.tolist()) == {-4 * 3600}  # EDT
    t = np.array([instant_ns(r.timestamp) for r in readings], dtype=np.int64)
    kwh = np.array([float(r.consumption) for r in readings])
    kwh[0] = np.nan
    expected = intervals_from_readings(
        t,
        kwh,
        start_ns=instant_ns(peak.start),
        end_ns=instant_ns(peak.end),
        utc_offset_s=utc_offsets(t, NEW_YORK),
    )
    np.testing.assert_array_equal(peak_features(series), peak_features(expected))
    hour = math.atan2(peak_features(series)[SIN], peak_features(series)[COS]) * 24 / (2 * math.pi)
    assert 8.0 < hour < 8.5  # 12:05-12:20 UTC is 08:05-08:20 in New York


@pytest.mark.django_db
def test_ml_api_takes_the_local_time_from_the_offset(settings: Any, trained_model: Path) -> None:
    settings.ENERGYLEAF_ML_API_KEY = "ml-test-key-0123456789abcdef"
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="ml-test-key-0123456789abcdef")
    start = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    moments = [start + timedelta(seconds=15 * (i + 1)) for i in range(12)]

    def post(texts: list[str]) -> PowerSeries:
        body = {"electricity": [{"timestamp": s, "power": 2150.0} for s in texts]}
        with mock.patch("analytics.services.suggestions.peak_features", wraps=peak_features) as spy:
            response = client.post("/api/v1/ml", body, format="json")
        assert response.status_code == 200, response.content
        (series,) = _captured(spy)
        return series

    local = post([m.astimezone(BERLIN).isoformat() for m in moments])
    assert set(local.utc_offset_s.tolist()) == {7200}
    utc = post([m.isoformat().replace("+00:00", "Z") for m in moments])
    naive = post([m.replace(tzinfo=None).isoformat() for m in moments])
    assert set(utc.utc_offset_s.tolist()) == set(naive.utc_offset_s.tolist()) == {0}
    np.testing.assert_array_equal(local.end_ns, utc.end_ns)  # the same instants
    np.testing.assert_array_equal(peak_features(utc), peak_features(naive))
    assert peak_features(local)[SIN] != pytest.approx(peak_features(utc)[SIN])
    t = np.array([instant_ns(m) for m in moments], dtype=np.int64)
    expected = intervals_from_samples(t, np.full(12, 2150.0), utc_offsets(t, BERLIN))
    np.testing.assert_array_equal(peak_features(local), peak_features(expected))
