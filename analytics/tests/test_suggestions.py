"""Suggestions after detection: made for new and grown peaks, replaced (never duplicated) on
re-runs, skipped without a usable model; the admin evaluation against confirmed devices."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerError

from analytics.compute.classifier.artefact import SIDECAR_FILE, current_version
from analytics.models import DeviceSuggestion, Sequence
from analytics.selectors.suggestions import suggestion_evaluation
from analytics.services.detection import WINDOW, sequences_detect_window
from analytics.services.suggestions import (
    classifier_cache_clear,
    suggestions_catch_up,
    suggestions_make,
)
from analytics.tests.factories import (
    DeviceFactory,
    DevicePeakFactory,
    DeviceSuggestionFactory,
    SequenceFactory,
)

from .factories import SensorFactory, readings_from_power

pytestmark = pytest.mark.django_db

W1 = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
W2 = W1 + WINDOW


@pytest.fixture
def sensor_with_load() -> Any:
    """A quiet day, then a 2 kW load from 12:24 to 12:42 that crosses the 12:30 boundary."""
    sensor = SensorFactory()
    readings_from_power(
        sensor,
        start=W1 - timedelta(hours=24, minutes=30),
        end=W2 + WINDOW,
        loads=[(W1 + timedelta(minutes=24), W1 + timedelta(minutes=42), 2000.0)],
    )
    return sensor


def _detect(sensor: Any, window_start: datetime, capture: Any) -> Any:
    with capture(execute=True):
        return sequences_detect_window(
            sensor_id=sensor.pk, window_start=window_start, window_end=window_start + WINDOW
        )


def test_new_and_grown_peaks_get_suggestions_replaced_not_duplicated(
    trained_model: Path, sensor_with_load: Any, django_capture_on_commit_callbacks: Any
) -> None:
    version = current_version(trained_model)
    first = _detect(sensor_with_load, W1, django_capture_on_commit_callbacks)
    assert first.inserted == 1
    (peak,) = Sequence.objects.filter(sensor=sensor_with_load, kind="peak")
    assert first.changed_peak_ids == [peak.pk]
    rows = list(DeviceSuggestion.objects.filter(sequence=peak))
    categories = {row.category for row in rows}
    assert len(rows) == len(categories) >= 2
    assert {row.model_version for row in rows} == {version}
    assert all(0.0 <= row.probability <= 1.0 for row in rows)
    before = {row.category: row.probability for row in rows}

    # The next window sees the load go on: the stored peak grows, suggestions are made anew.
    second = _detect(sensor_with_load, W2, django_capture_on_commit_callbacks)
    assert second.updated == 1
    assert second.changed_peak_ids == [peak.pk]
    peak.refresh_from_db()
    assert peak.end > W2
    assert DeviceSuggestion.objects.filter(sequence=peak).count() == len(categories)

    # Running again (a redelivered task) replaces; nothing is duplicated.
    assert suggestions_make(sequence_ids=[peak.pk, peak.pk]) == 1
    assert suggestions_make(sequence_ids=[peak.pk]) == 1
    again = DeviceSuggestion.objects.filter(sequence=peak)
    assert {row.category for row in again} == set(before)

    # A re-run of an unchanged window changes nothing and suggests nothing.
    third = _detect(sensor_with_load, W2, django_capture_on_commit_callbacks)
    assert third.changed_peak_ids == []


def test_anomalies_and_unknown_ids_are_ignored(trained_model: Path) -> None:
    sensor = SensorFactory()
    anomaly = SequenceFactory(
        sensor=sensor,
        kind="anomaly",
        start=W1,
        average_power_w=5000,
        average_peak_power_w=4800,
        energy_kwh=0.4,
    )
    assert suggestions_make(sequence_ids=[anomaly.pk, 999_999]) == 0
    assert not DeviceSuggestion.objects.exists()


def test_without_a_model_detection_goes_on(
    no_model: Path, sensor_with_load: Any, django_capture_on_commit_callbacks: Any
) -> None:
    result = _detect(sensor_with_load, W1, django_capture_on_commit_callbacks)
    assert result.inserted == 1
    assert not DeviceSuggestion.objects.exists()


def test_mismatched_sidecar_is_logged_and_skipped(
    settings: Any,
    tiny_model_dir: Path,
    tmp_path: Path,
    sensor_with_load: Any,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(tiny_model_dir, folder)
    version = current_version(folder)
    assert version is not None
    sidecar = json.loads((folder / version / SIDECAR_FILE).read_text())
    sidecar["feature_names"] = ["something", "else"]
    (folder / version / SIDECAR_FILE).write_text(json.dumps(sidecar))
    settings.ENERGYLEAF_ML_MODEL_DIR = folder
    classifier_cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="analytics.services.suggestions"):
            result = _detect(sensor_with_load, W1, django_capture_on_commit_callbacks)
            _detect(sensor_with_load, W1, django_capture_on_commit_callbacks)
    finally:
        classifier_cache_clear()
    assert result.inserted == 1
    assert not DeviceSuggestion.objects.exists()
    warnings = [r for r in caplog.records if "feature names" in r.getMessage()]
    assert len(warnings) == 1  # once per model version, not per peak


def test_evaluation_counts_correct_wrong_missing_and_bands(admin_client: Any) -> None:
    sensor = SensorFactory()
    user = sensor.user
    kettle = DeviceFactory(user=user, name="Kettle", category="kettle")
    washer = DeviceFactory(user=user, name="Washer", category="washingMachine")
    peaks = [
        Sequence.objects.create(
            sensor=sensor,
            kind="peak",
            start=W1 + timedelta(minutes=10 * i),
            end=W1 + timedelta(minutes=10 * i + 5),
            average_power_w=2000,
            average_peak_power_w=1800,
            energy_kwh=0.1,
        )
        for i in range(4)
    ]
    # peak 0: kettle confirmed and suggested (correct); peak 1: washer confirmed, kettle
    # suggested (wrong kettle, missing washer); peak 2: kettle confirmed, suggested at 0.3
    # (missing); peak 3: nobody confirmed (not counted).
    DevicePeakFactory(device=kettle, sequence=peaks[0])
    DevicePeakFactory(device=washer, sequence=peaks[1])
    DevicePeakFactory(device=kettle, sequence=peaks[2])
    for peak, kettle_p, washer_p in (
        (peaks[0], 0.92, 0.1),
        (peaks[1], 0.65, 0.2),
        (peaks[2], 0.3, 0.05),
        (peaks[3], 0.99, 0.99),
    ):
        DeviceSuggestionFactory(
            sequence=peak, category="kettle", probability=kettle_p, model_version="m1"
        )
        DeviceSuggestionFactory(
            sequence=peak, category="washingMachine", probability=washer_p, model_version="m1"
        )
    evaluation = suggestion_evaluation(model_version="m1")
    assert evaluation.peaks == 3
    by_category = {row.category: row for row in evaluation.categories}
    assert (by_category["kettle"].correct, by_category["kettle"].wrong) == (1, 1)
    assert by_category["kettle"].missing == 1
    assert by_category["kettle"].precision == pytest.approx(0.5)
    assert by_category["washingMachine"].missing == 1
    assert by_category["washingMachine"].recall == pytest.approx(0.0)
    bands = {(band.low, band.high): band for band in evaluation.bands}
    assert (bands[(0.9, 1.0001)].suggestions, bands[(0.9, 1.0001)].confirmed) == (1, 1)
    assert (bands[(0.6, 0.7)].suggestions, bands[(0.6, 0.7)].confirmed) == (1, 0)
    assert bands[(0.25, 0.5)].confirmed == 1
    assert bands[(0.6, 0.7)].mean_probability == pytest.approx(0.65)
    assert bands[(0.0, 0.25)].mean_probability == pytest.approx((0.1 + 0.2 + 0.05) / 3)
    per_category = {row.category: row.bands for row in evaluation.category_bands}
    kettle_bands = {(band.low, band.high): band for band in per_category["kettle"]}
    assert (kettle_bands[(0.9, 1.0001)].suggestions, kettle_bands[(0.9, 1.0001)].confirmed) == (
        1,
        1,
    )
    assert kettle_bands[(0.25, 0.5)].confirmed == 1
    assert sum(band.suggestions for band in per_category["washingMachine"]) == 3

    response = admin_client.get(reverse("admin:analytics_suggestion_evaluation"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="evaluated-peaks">3<' in page
    assert 'id="suggestion-category-bands"' in page
    assert "1 / 1" in page
    assert "washingMachine" in page
    listing = admin_client.get(reverse("admin:analytics_devicesuggestion_changelist"))
    assert reverse("admin:analytics_suggestion_evaluation") in listing.content.decode()


def test_evaluation_page_refuses_households(client: Any) -> None:
    user = SensorFactory().user
    client.force_login(user)
    response = client.get(reverse("admin:analytics_suggestion_evaluation"))
    assert response.status_code == 302  # to the admin login


class TestCatchUp:
    """Peaks whose suggestions were lost (broker down), went stale (the peak grew) or belong to
    an older model are sent again by the hourly catch-up."""

    NOW = W1 + timedelta(hours=2)

    def peak(self, sensor: Any, start: datetime, kind: str = "peak") -> Sequence:
        return Sequence.objects.create(
            sensor=sensor,
            kind=kind,
            start=start,
            end=start + timedelta(minutes=10),
            average_power_w=2000,
            average_peak_power_w=1800,
            energy_kwh=0.3,
        )

    def suggest(self, peak: Sequence, version: str) -> None:
        DeviceSuggestionFactory(
            sequence=peak, category="kettle", probability=0.9, model_version=version
        )

    def test_missing_stale_and_old_model_peaks_are_sent(self, trained_model: Path) -> None:
        version = str(current_version(trained_model))
        sensor = SensorFactory()
        lost = self.peak(sensor, W1)
        done = self.peak(sensor, W1 + timedelta(minutes=20))
        self.suggest(done, version)
        grown = self.peak(sensor, W1 + timedelta(minutes=40))
        self.suggest(grown, version)
        grown.end += timedelta(minutes=5)
        grown.save()  # changed after its suggestions were made
        old_model = self.peak(sensor, W1 + timedelta(minutes=60))
        self.suggest(old_model, "pc1-older")
        self.peak(sensor, W1 + timedelta(minutes=70), kind="anomaly")
        self.peak(sensor, self.NOW - timedelta(hours=49))  # before the catch-up period

        with mock.patch("analytics.tasks.suggest_devices_task.delay") as delay:
            assert suggestions_catch_up(now=self.NOW) == 3
        delay.assert_called_once_with([lost.pk, grown.pk, old_model.pk])

    def test_the_sent_peaks_get_suggestions_and_are_not_sent_again(
        self, trained_model: Path, sensor_with_load: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        with mock.patch("analytics.tasks.suggest_devices_task.delay"):  # the task is lost
            _detect(sensor_with_load, W1, django_capture_on_commit_callbacks)
        assert not DeviceSuggestion.objects.exists()
        with mock.patch(
            "analytics.tasks.suggest_devices_task.delay",
            side_effect=lambda ids: suggestions_make(sequence_ids=ids),
        ):
            assert suggestions_catch_up(now=self.NOW) == 1
        assert DeviceSuggestion.objects.exists()
        with mock.patch("analytics.tasks.suggest_devices_task.delay") as delay:
            assert suggestions_catch_up(now=self.NOW) == 0
        delay.assert_not_called()

    def test_nothing_without_a_model(self, no_model: Path) -> None:
        self.peak(SensorFactory(), W1)
        with mock.patch("analytics.tasks.suggest_devices_task.delay") as delay:
            assert suggestions_catch_up(now=self.NOW) == 0
        delay.assert_not_called()

    def test_a_broker_down_after_detection_loses_nothing_but_the_message(
        self, trained_model: Path, sensor_with_load: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        with mock.patch(
            "analytics.tasks.suggest_devices_task.delay",
            side_effect=BrokerError("connection refused"),
        ):
            result = _detect(sensor_with_load, W1, django_capture_on_commit_callbacks)
        assert result.inserted == 1  # detection stored; the error was logged, not raised
        assert Sequence.objects.filter(kind="peak").count() == 1

    def test_scheduled_hourly(self) -> None:
        from energyleaf.schedule import default_entry

        entry = default_entry("suggestions-catch-up")
        assert entry.task == "analytics.suggest_devices_catch_up"


def _features_served(peak: Sequence) -> Any:
    """The feature row `suggestions_make` classifies for `peak`."""
    from analytics.compute.classifier import artefact

    with mock.patch.object(artefact, "probabilities", wraps=artefact.probabilities) as spy:
        assert suggestions_make(sequence_ids=[peak.pk]) == 1
    return spy.call_args.args[1][0]


def test_the_context_is_the_hour_before_the_peak_in_its_own_household(
    trained_model: Path,
) -> None:
    """A 300 W load runs the half hour before a 2 kW peak (a washing machine filling before it
    heats): the served features see it above the floor of 100 W. After the sensor moved to
    another household five minutes before the peak, nothing of the previous household's time
    reaches them."""
    from analytics.compute.classifier.features import FEATURE_NAMES
    from energyleaf.users.tests.factories import UserFactory
    from sensors.services import sensor_assign

    near, far, share = (
        FEATURE_NAMES.index(name)
        for name in ("before_10min_lift", "before_10_30min_lift", "before_10min_share")
    )
    start, end = W1 + timedelta(minutes=24), W1 + timedelta(minutes=42)
    loads = [(start - timedelta(minutes=30), start, 300.0), (start, end, 2000.0)]
    sensors, owners = [], []
    for moved in (False, True):
        owner = UserFactory()
        sensor = SensorFactory(user=owner)
        readings_from_power(
            sensor, start=W1 - timedelta(hours=2), end=W2, base_w=100.0, noise_w=0.0, loads=loads
        )
        if moved:
            owner = UserFactory()
            sensor_assign(sensor=sensor, user=owner, at=start - timedelta(minutes=5))
        sensors.append(sensor)
        owners.append(owner.pk)
    kept, moved_sensor = (
        SequenceFactory(sensor=sensor, start=start, end=end) for sensor in sensors
    )
    assert [kept.household_key, moved_sensor.household_key] == owners

    row = _features_served(kept)
    assert row[near] == pytest.approx(np.log1p(300.0), abs=0.01)
    assert row[far] == pytest.approx(np.log1p(300.0), abs=0.01)
    assert row[share] == pytest.approx(300.0 / 1900.0, abs=0.01)

    row = _features_served(moved_sensor)
    # Only the last five minutes before the peak are the household's: they set the floor
    # themselves, and the 10-30 minutes before are unknown.
    assert row[near] == pytest.approx(0.0, abs=0.01)
    assert np.isnan(row[far])
