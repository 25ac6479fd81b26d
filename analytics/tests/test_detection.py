"""Detection persisted per window: idempotent, late readings, merging across windows, own
readings only, validation, the management command and the operator cron triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import override_settings
from kombu.exceptions import OperationalError as BrokerError

from analytics.models import Sequence
from analytics.selectors.detection import sensor_readings_arrays
from analytics.services.detection import (
    detection_window_just_ended,
    detection_windows_between,
    detection_windows_due,
    sequences_detect_fanout,
    sequences_detect_window,
)
from energyleaf.audit.models import AuditEvent
from sensors.models import Sensor
from sensors.services import sensor_reset

from .factories import SensorFactory, readings_from_power

pytestmark = pytest.mark.django_db

WS = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
WE = WS + timedelta(minutes=30)
REF = WS - timedelta(hours=24)


def at(minute: int, second: int = 0) -> datetime:
    return WS + timedelta(minutes=minute, seconds=second)


def run(sensor: Sensor, start: datetime = WS, kinds: tuple[str, ...] = ("peak", "anomaly")):  # type: ignore[no-untyped-def]
    return sequences_detect_window(
        sensor_id=sensor.pk,
        window_start=start,
        window_end=start + timedelta(minutes=30),
        kinds=kinds,
    )


def test_selector_reads_own_readings_as_arrays() -> None:
    sensor, other = SensorFactory(), SensorFactory()
    readings_from_power(sensor, start=at(0), end=at(1))
    readings_from_power(other, start=at(0), end=at(5))
    t_ns, kwh = sensor_readings_arrays(sensor_id=sensor.pk, start=at(0), end=at(1))
    assert t_ns.tolist() == [int(at(0, s).timestamp()) * 10**9 for s in (0, 15, 30, 45, 60)]
    assert kwh[0] == 0.0
    assert kwh[1] == pytest.approx(200 * 15 / 3.6e6, rel=0.2)


def test_peak_is_detected_and_stored_with_audit() -> None:
    sensor = SensorFactory()
    readings_from_power(sensor, start=REF, end=WE, loads=[(at(5), at(15), 2000.0)])

    result = run(sensor)

    assert result.status == {"peak": "ok", "anomaly": "ok"}
    assert (result.detected, result.inserted) == (1, 1)
    peak = Sequence.objects.get(sensor=sensor)
    assert (peak.kind, peak.start, peak.end) == ("peak", at(5), at(15))
    assert peak.average_peak_power_w == pytest.approx(2000, rel=0.05)
    assert peak.energy_kwh == pytest.approx(2.2 * 10 / 60, rel=0.05)
    event = AuditEvent.objects.get(title="analytics/detection", sensor_id=sensor.pk)
    assert event.details["inserted"] == 1
    assert event.details["window_start"] == WS.isoformat()


def test_rerunning_a_window_changes_nothing() -> None:
    sensor = SensorFactory()
    readings_from_power(
        sensor, start=REF, end=WE, loads=[(at(5), at(15), 2000.0), (at(20), at(25), 5000.0)]
    )
    first = run(sensor)
    rows = list(Sequence.objects.order_by("kind", "start").values())

    second = run(sensor)

    assert first.inserted == 3  # two peaks and one anomaly
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 3)
    assert list(Sequence.objects.order_by("kind", "start").values()) == rows


def test_late_readings_extend_the_stored_sequence_instead_of_duplicating() -> None:
    sensor = SensorFactory()
    loads = [(at(5), at(15), 2000.0)]
    in_gap = lambda moment: at(9) < moment < at(12)  # noqa: E731
    readings_from_power(sensor, start=REF, end=WE, loads=loads, keep=lambda m: not in_gap(m))
    first = run(sensor, kinds=("peak",))
    assert first.inserted == 2  # the missing data splits the run in two
    kept_pk = Sequence.objects.order_by("start").first().pk  # type: ignore[union-attr]

    readings_from_power(sensor, start=REF, end=WE, loads=loads, keep=in_gap)  # the late batch
    second = run(sensor, kinds=("peak",))

    assert (second.inserted, second.updated, second.absorbed) == (0, 1, 1)
    peak = Sequence.objects.get(sensor=sensor)
    assert (peak.pk, peak.start, peak.end) == (kept_pk, at(5), at(15))
    assert peak.energy_kwh == pytest.approx(2.2 * 10 / 60, rel=0.05)


def test_a_sequence_across_two_windows_is_one_row() -> None:
    sensor = SensorFactory()
    loads = [(at(20), at(40), 2000.0)]
    readings_from_power(sensor, start=REF, end=WE, loads=loads)
    run(sensor, kinds=("peak",))
    assert Sequence.objects.get().end == at(30)

    readings_from_power(sensor, start=WE + timedelta(seconds=15), end=at(60), loads=loads)
    # the next reading's interval started inside the load: the register keeps counting
    result = run(sensor, start=WE, kinds=("peak",))

    assert (result.inserted, result.updated) == (0, 1)
    peak = Sequence.objects.get()
    assert (peak.start, peak.end) == (at(20), at(40))
    assert peak.average_peak_power_w == pytest.approx(2000, rel=0.05)


def test_a_stored_sequence_that_merges_is_extended() -> None:
    sensor = SensorFactory()
    readings_from_power(sensor, start=REF, end=WE, loads=[(at(10), at(20), 2000.0)])
    # stored by an earlier run (say before a re-configuration): ends 1 minute before the new one
    Sequence.objects.create(
        sensor=sensor,
        kind="peak",
        start=at(5),
        end=at(9),
        average_power_w=2200,
        average_peak_power_w=2000,
        energy_kwh=0.15,
    )

    result = run(sensor, kinds=("peak",))

    assert (result.inserted, result.updated) == (0, 1)
    peak = Sequence.objects.get()
    assert (peak.start, peak.end) == (at(5), at(20))


def test_only_the_sensors_own_readings_count() -> None:
    quiet, busy = SensorFactory(), SensorFactory()
    readings_from_power(quiet, start=REF, end=WE)
    readings_from_power(busy, start=REF, end=WE, loads=[(at(5), at(15), 4000.0)], seed=1)

    assert run(quiet).detected == 0
    assert run(busy).detected == 2
    assert not Sequence.objects.filter(sensor=quiet).exists()
    assert set(Sequence.objects.values_list("sensor_id", flat=True)) == {busy.pk}


def test_a_quiet_window_costs_one_read_and_one_audit_insert(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    sensor = SensorFactory()
    readings_from_power(sensor, start=REF, end=WE)
    # periods, read, savepoint, audit insert, release
    with django_assert_max_num_queries(5):
        assert run(sensor).detected == 0


def test_too_little_reference_data_detects_nothing() -> None:
    sensor = SensorFactory()
    readings_from_power(sensor, start=at(-60), end=WE, loads=[(at(5), at(15), 2000.0)])

    result = run(sensor)

    assert result.status == {"peak": "insufficient_data", "anomaly": "insufficient_data"}
    assert not Sequence.objects.exists()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (WS.replace(tzinfo=None), WE.replace(tzinfo=None)),
        (WS, WE - timedelta(minutes=1)),
        (WS + timedelta(minutes=15), WE + timedelta(minutes=15)),
        (WS + timedelta(seconds=1), WE + timedelta(seconds=1)),
    ],
    ids=["naive", "29_minutes", "not_aligned", "seconds"],
)
def test_invalid_windows_are_refused(start: datetime, end: datetime) -> None:
    sensor = SensorFactory()
    with pytest.raises(ValidationError):
        sequences_detect_window(sensor_id=sensor.pk, window_start=start, window_end=end)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValidationError):
        run(SensorFactory(), kinds=("spike",))


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (at(47), at(0)),
        (at(30), at(0)),
        (at(29, 59), at(-30)),
        (at(0), at(-30)),
    ],
)
def test_the_window_that_just_ended(now: datetime, start: datetime) -> None:
    assert detection_window_just_ended(now) == (start, start + timedelta(minutes=30))


def test_windows_between_cover_the_range() -> None:
    assert list(detection_windows_between(start=at(10), end=at(61))) == [at(0), at(30), at(60)]


def test_fanout_enqueues_assigned_electricity_sensors(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    wanted = SensorFactory()
    SensorFactory(user=None)
    SensorFactory(sensor_type=Sensor.SensorType.GAS)
    with (
        mock.patch("analytics.tasks.detect_sequences_for_sensors_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sequences_detect_fanout(kinds=("peak",), now=at(47)) == 1
    delay.assert_called_once_with([wanted.pk], WS.isoformat(), ["peak"])


def test_fanout_includes_a_sensor_reset_during_the_window(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    reset_in_window, reset_before = SensorFactory(), SensorFactory()
    sensor_reset(sensor=reset_in_window, at=at(10))
    sensor_reset(sensor=reset_before, at=at(-10))
    with (
        mock.patch("analytics.tasks.detect_sequences_for_sensors_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        # The household's first ten minutes of the window are still detected.
        assert sequences_detect_fanout(kinds=("peak",), window_start=WS) == 1
    delay.assert_called_once_with([reset_in_window.pk], WS.isoformat(), ["peak"])


@override_settings(ENERGYLEAF_DETECTION_CHUNK_SENSORS=2)
def test_fanout_sends_chunks_of_sensors_per_window(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    sensors = sorted(sensor.pk for sensor in SensorFactory.create_batch(5))
    with (
        mock.patch("analytics.tasks.detect_sequences_for_sensors_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sequences_detect_fanout(kinds=("peak",), window_start=WS) == 3
    assert [call.args for call in delay.call_args_list] == [
        (sensors[0:2], WS.isoformat(), ["peak"]),
        (sensors[2:4], WS.isoformat(), ["peak"]),
        (sensors[4:], WS.isoformat(), ["peak"]),
    ]
    event = AuditEvent.objects.get(title="analytics/detection-fanout")
    assert (event.details["sensors"], event.details["tasks"]) == (5, 3)


def _enqueued_windows(delay: mock.MagicMock) -> list[str]:
    return sorted({call.args[1] for call in delay.call_args_list})


class TestCatchUp:
    """A scheduled fan-out also sends the windows that earlier scheduled runs missed."""

    @pytest.fixture(autouse=True)
    def _callbacks(self, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
        self.callbacks = django_capture_on_commit_callbacks

    def fanout(self, now: datetime, **kwargs) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
        with (
            mock.patch("analytics.tasks.detect_sequences_for_sensors_task.delay") as delay,
            self.callbacks(execute=True),
        ):
            count = sequences_detect_fanout(now=now, **kwargs)
        return count, _enqueued_windows(delay)

    def test_missed_windows_are_enqueued_oldest_first(self) -> None:
        SensorFactory()
        assert self.fanout(at(47)) == (1, [WS.isoformat()])
        # beat could not reach the broker at 13:00, 13:30 and 14:00: the 14:30 run catches up
        count, windows = self.fanout(at(47 + 120))
        assert windows == [at(m).isoformat() for m in (30, 60, 90, 120)]
        assert count == 4
        # and the next regular run does only its own half hour again
        assert self.fanout(at(47 + 150)) == (1, [at(150).isoformat()])

    def test_a_repeated_tick_does_the_same_window_once_more_only(self) -> None:
        SensorFactory()
        self.fanout(at(47))
        assert self.fanout(at(50)) == (1, [WS.isoformat()])

    def test_at_most_the_configured_number_of_windows(self) -> None:
        self.fanout(at(47))
        with override_settings(ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS=3):
            assert detection_windows_due(now=at(47 + 600)) == [at(m) for m in (540, 570, 600)]
        with override_settings(ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS=2):
            assert detection_windows_due(now=at(47 + 600)) == [at(570), at(600)]

    def test_a_new_installation_starts_with_the_window_that_just_ended(self) -> None:
        assert detection_windows_due(now=at(47 + 600)) == [at(600)]

    def test_only_scheduled_runs_of_the_same_kinds_count(self) -> None:
        # an operator's run of one window
        with (
            mock.patch("analytics.tasks.detect_sequences_for_sensors_task.delay"),
            self.callbacks(execute=True),
        ):
            sequences_detect_fanout(window_start=at(60))
        self.fanout(at(47), kinds=("peak",))
        assert detection_windows_due(now=at(107), kinds=("peak",)) == [at(30), at(60)]
        # nothing scheduled for both kinds yet: no catch-up
        assert detection_windows_due(now=at(107)) == [at(60)]

    @override_settings(ENERGYLEAF_DETECTION_CHUNK_SENSORS=1)
    def test_a_run_that_failed_half_way_is_caught_up(self) -> None:
        SensorFactory.create_batch(3)
        self.fanout(at(47))
        failing = mock.Mock(side_effect=[None, BrokerError("connection refused")])
        with (
            mock.patch("analytics.tasks.detect_sequences_for_sensors_task.delay", failing),
            pytest.raises(BrokerError),
            self.callbacks(execute=True),
        ):
            sequences_detect_fanout(now=at(77))
        # no audit event for the failed run: the next one sends its window again
        count, windows = self.fanout(at(107))
        assert windows == [at(30).isoformat(), at(60).isoformat()]
        assert count == 6


def test_fanout_runs_detection_eagerly(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    sensor = SensorFactory()
    readings_from_power(sensor, start=REF, end=WE, loads=[(at(5), at(15), 2000.0)])
    with django_capture_on_commit_callbacks(execute=True):
        sequences_detect_fanout(kinds=("peak",), window_start=WS)
    assert Sequence.objects.filter(sensor=sensor, kind="peak").count() == 1


class TestCommand:
    def test_one_sensor_over_a_range_is_idempotent(self) -> None:
        sensor = SensorFactory()
        readings_from_power(
            sensor, start=REF, end=at(60), loads=[(at(5), at(15), 2000.0), (at(40), at(50), 2000.0)]
        )
        out = StringIO()
        args = ["--sensor", sensor.client_id.lower(), "--start", "2024-05-06T12:00", "--end"]
        call_command("detect_sequences", *args, "2024-05-06T13:00", "--no-progress", stdout=out)
        assert "2 window(s)" in out.getvalue()
        assert "inserted 2" in out.getvalue()
        call_command("detect_sequences", *args, "2024-05-06T13:00", "--no-progress", stdout=out)
        assert Sequence.objects.filter(kind="peak").count() == 2

    def test_all_sensors_with_a_progress_bar(self) -> None:
        sensors = [SensorFactory(), SensorFactory()]
        for n, sensor in enumerate(sensors):
            readings_from_power(sensor, start=REF, end=WE, loads=[(at(5), at(15), 2000.0)], seed=n)
        out, err = StringIO(), StringIO()
        call_command(
            "detect_sequences", "--all", "--start", "2024-05-06T12:00:00Z", "--end",
            "2024-05-06T12:30:00+00:00", "--kind", "peak", stdout=out, stderr=err,
        )  # fmt: skip
        assert "2 sensor(s), 1 window(s)" in out.getvalue()
        assert "2/2" in err.getvalue()
        assert Sequence.objects.count() == 2

    def test_unknown_sensor_is_an_error(self) -> None:
        with pytest.raises(CommandError, match="No sensor"):
            call_command("detect_sequences", "--sensor", "00:00:00:00:00:00", "--start",
                         "2024-05-06", "--end", "2024-05-07")  # fmt: skip


class TestCronEndpoints:
    @pytest.mark.parametrize(
        ("path", "kinds"), [("/api/v1/mark_peaks", ["peak"]), ("/api/v1/anomaly", ["anomaly"])]
    )
    def test_the_secret_enqueues_after_commit(  # type: ignore[no-untyped-def]
        self, api_client, django_capture_on_commit_callbacks, path, kinds
    ) -> None:
        with (
            mock.patch("analytics.tasks.detect_sequences_fanout_task.delay") as delay,
            django_capture_on_commit_callbacks() as callbacks,
        ):
            response = api_client.get(path, HTTP_AUTHORIZATION="Bearer test-cron-secret")
            assert response.status_code == 202
            assert response.json()["status"] == 202
            assert response.json()["statusMessage"]
            delay.assert_not_called()
        assert len(callbacks) == 1
        callbacks[0]()
        delay.assert_called_once_with(kinds=kinds)
        assert AuditEvent.objects.filter(title="analytics/detection-triggered").exists()

    @pytest.mark.parametrize(
        "header",
        [None, "Bearer wrong", "test-cron-secret", "Bearer test-cron-secret ", "Basic x", "Bearer"],
    )
    @pytest.mark.parametrize("path", ["/api/v1/mark_peaks", "/api/v1/anomaly"])
    def test_a_wrong_or_missing_secret_is_401(self, api_client, path, header) -> None:  # type: ignore[no-untyped-def]
        extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
        with mock.patch("analytics.tasks.detect_sequences_fanout_task.delay") as delay:
            response = api_client.get(path, **extra)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "statusMessage": "Unauthorized"}
        delay.assert_not_called()

    @override_settings(ENERGYLEAF_CRON_SECRET="")
    def test_an_empty_configured_secret_refuses_everything(self, api_client) -> None:  # type: ignore[no-untyped-def]
        for header in ("Bearer ", "Bearer"):
            response = api_client.get("/api/v1/mark_peaks", HTTP_AUTHORIZATION=header)
            assert response.status_code == 401
