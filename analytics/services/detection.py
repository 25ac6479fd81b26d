"""Peak and anomaly detection for one sensor and one half-hour window, stored idempotently.

The pure detector (`analytics.compute.sequences`) sees the 24 h before the window and the window
itself, so a sequence that began before the window comes back whole. Persisting reconciles each
detected sequence with the stored ones of the same sensor and kind: one that overlaps, touches or
`should_merge`s with stored rows updates the earliest of them (union of the time spans, figures
recomputed from the readings) and absorbs the others; anything else is inserted. Re-running a
window, or running it again after late readings arrived, therefore never duplicates a sequence
and never loses one. All times are aware UTC; powers in W, energy in kWh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analytics.compute.detection import (
    arrays_between,
    continues,
    instant_ns,
    span_figures,
    state_pack,
    state_unpack,
)
from analytics.compute.sequences import (
    DEFAULT_CONFIG,
    DetectionConfig,
    DetectionResult,
    SequenceKind,
    SequenceSummary,
    detect,
    detect_kinds,
)
from analytics.models import DetectionState, DevicePeak, Sequence
from analytics.selectors.detection import (
    detection_states,
    electricity_sensor_ids_assigned,
    sensor_readings_arrays,
    sensors_readings_arrays,
    sensors_with_late_readings,
    sequence_latest,
    sequences_near,
)
from analytics.selectors.runs import FANOUT_AUDIT_TITLE
from analytics.services.suggestions import suggestions_enqueue
from analytics.tasks import detect_sequences_fanout_task, detect_sequences_for_sensors_task
from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record, audit_events_record
from sensors.models import Sensor
from sensors.selectors.assignments import Period, segments_of, sensor_periods, sensors_periods

WINDOW = timedelta(minutes=30)
ALL_KINDS: tuple[SequenceKind, ...] = ("peak", "anomaly")
AUDIT_TITLE = "analytics/detection"
_INCLUSIVE = timedelta(microseconds=1)  # the window's end is part of it


@dataclass
class WindowResult:
    """What one detection run of a sensor's window did. `status` per kind is the detector's
    ("ok" or "insufficient_data"); the counts are sequences detected, rows inserted, rows
    updated, stored rows that already matched, and stored rows absorbed into another."""

    sensor_id: int
    window_start: datetime
    window_end: datetime
    status: dict[str, str] = field(default_factory=dict)
    detected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    absorbed: int = 0
    # Peaks inserted or changed (grown by a merge): they get new device suggestions.
    changed_peak_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "detected": self.detected,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "absorbed": self.absorbed,
        }


def detection_window_just_ended(now: datetime) -> tuple[datetime, datetime]:
    """The half hour (UTC) that ended last at `now` (aware): at 12:47 it is [12:00, 12:30]."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("now must be timezone-aware.", code="naive_datetime")
    now = now.astimezone(UTC)
    end = now.replace(minute=30 if now.minute >= 30 else 0, second=0, microsecond=0)
    return end - WINDOW, end


def detection_windows_between(*, start: datetime, end: datetime) -> Iterator[datetime]:
    """Starts of the half-hour windows that lie within [start, end] after aligning `start` down
    and `end` up to a half hour (aware; yields UTC)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError("start and end must be timezone-aware.", code="naive_datetime")
    current, _ = detection_window_just_ended(start.astimezone(UTC) + WINDOW)
    while current < end:
        yield current
        current += WINDOW


def detection_window_validate(*, window_start: datetime, window_end: datetime) -> None:
    """A window is aware, exactly 30 minutes long and starts on a UTC half hour."""
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValidationError("The window bounds must be timezone-aware.", code="naive_datetime")
    if window_end - window_start != WINDOW:
        raise ValidationError("A detection window is exactly 30 minutes.", code="window_length")
    start = window_start.astimezone(UTC)
    if start.minute % 30 or start.second or start.microsecond:
        raise ValidationError(
            "A detection window starts on a half hour (UTC).", code="window_alignment"
        )


def _kinds_validate(kinds: Iterable[str]) -> tuple[SequenceKind, ...]:
    result = tuple(dict.fromkeys(kinds))
    unknown = [kind for kind in result if kind not in ALL_KINDS]
    if unknown or not result:
        raise ValidationError(
            "Unknown or no sequence kinds: %(kinds)s.",
            code="kinds",
            params={"kinds": ", ".join(unknown) or "none"},
        )
    return cast(tuple[SequenceKind, ...], result)


def _absorb(*, keep: Sequence, others: list[Sequence]) -> None:
    """Move device confirmations of `others` to `keep` (without duplicates) and delete them."""
    other_ids = [row.pk for row in others]
    linked = set(DevicePeak.objects.filter(sequence=keep).values_list("device_id", flat=True))
    for link in DevicePeak.objects.filter(sequence_id__in=other_ids).order_by("pk"):
        if link.device_id not in linked:
            linked.add(link.device_id)
            link.sequence = keep
            link.save(update_fields=["sequence"])
    Sequence.objects.filter(pk__in=other_ids).delete()


@dataclass
class _SegmentRun:
    """The detection of one household's part of the window (or of a gap between periods)."""

    household_key: int
    t_ns: npt.NDArray[np.int64]
    kwh: npt.NDArray[np.float64]
    outcomes: dict[SequenceKind, DetectionResult]


def _persist_kind(
    *,
    sensor_id: int,
    household_key: int,
    kind: SequenceKind,
    outcome: DetectionResult,
    t_ns: npt.NDArray[np.int64],
    kwh: npt.NDArray[np.float64],
    config: DetectionConfig,
    result: WindowResult,
) -> None:
    detected = outcome.sequences
    reach = timedelta(seconds=config.merge_gap_s)
    stored = sequences_near(
        sensor_id=sensor_id,
        kinds=[kind],
        start=min(d.start for d in detected) - reach,
        end=max(d.end for d in detected) + reach,
        for_update=True,
        household_key=household_key,
    )
    for sequence in detected:
        matches = [
            row
            for row in stored
            if continues(
                SequenceSummary(row.start, row.end, row.average_peak_power_w), sequence, config
            )
        ]
        if not matches:
            figures = span_figures(sequence, sequence.start, sequence.end, t_ns, kwh, None)
            row = Sequence(
                sensor_id=sensor_id,
                household_key=household_key,
                kind=kind,
                start=sequence.start,
                end=sequence.end,
                average_power_w=figures.average_power_w,
                average_peak_power_w=figures.average_peak_power_w,
                energy_kwh=figures.energy_kwh,
                base_load_w=outcome.base_load_w,
            )
            row.full_clean(exclude=["sensor"], validate_unique=False, validate_constraints=False)
            row.save()
            stored.append(row)
            stored.sort(key=lambda item: item.start)
            result.inserted += 1
            if kind == "peak":
                result.changed_peak_ids.append(row.pk)
            continue
        keep, others = matches[0], matches[1:]
        start = min([sequence.start, *(row.start for row in matches)])
        end = max([sequence.end, *(row.end for row in matches)])
        if others:
            _absorb(keep=keep, others=others)
            stored = [row for row in stored if row not in others]
            result.absorbed += len(others)
        figures = span_figures(sequence, start, end, t_ns, kwh, outcome.base_load_w)
        new_values = {
            "start": start,
            "end": end,
            "average_power_w": figures.average_power_w,
            "average_peak_power_w": figures.average_peak_power_w,
            "energy_kwh": figures.energy_kwh,
            "base_load_w": outcome.base_load_w,
        }
        changed = [name for name, value in new_values.items() if getattr(keep, name) != value]
        if not changed and not others:
            result.unchanged += 1
            continue
        for name in changed:
            setattr(keep, name, new_values[name])
        keep.full_clean(exclude=["sensor"], validate_unique=False, validate_constraints=False)
        keep.save(update_fields=[*changed, "updated_at"])
        result.updated += 1
        if kind == "peak" and {"start", "end"} & set(changed):
            result.changed_peak_ids.append(keep.pk)


def _detect_runs(
    *,
    sensor_id: int,
    segments: Iterable[Period],
    arrays: Callable[[Period], tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
    wanted: tuple[SequenceKind, ...],
    config: DetectionConfig,
    result: WindowResult,
) -> list[_SegmentRun]:
    """Detect every kind in each segment (a household's time with the sensor, or a gap) from the
    segment's readings `arrays(segment)`; counts go to `result`."""
    window_start, window_end = result.window_start, result.window_end
    runs: list[_SegmentRun] = []
    for segment in segments:
        t_ns, kwh = arrays(segment)
        run = _SegmentRun(segment.household_key, t_ns, kwh, {})
        first_pass = detect_kinds(
            wanted, t_ns, kwh, window_start=window_start, window_end=window_end, config=config
        )
        for kind in wanted:
            outcome = first_pass[kind]
            if kind == "anomaly" and outcome.sequences:
                # The spacing rule needs the household's latest stored anomaly; asked only when
                # there is one to space (without candidates, no previous anomaly can add any).
                latest = sequence_latest(
                    sensor_id=sensor_id,
                    kind=kind,
                    before=window_end,
                    household_key=segment.household_key,
                )
                if latest is not None:
                    previous = SequenceSummary(
                        latest.start, latest.end, latest.average_peak_power_w
                    )
                    outcome = detect(
                        kind,
                        t_ns,
                        kwh,
                        window_start=window_start,
                        window_end=window_end,
                        config=config,
                        previous=previous,
                    )
            run.outcomes[kind] = outcome
            if result.status.get(kind) != "ok":
                result.status[kind] = outcome.status
            result.detected += len(outcome.sequences)
        runs.append(run)
    return runs


def _persist_runs(
    *, sensor_id: int, runs: list[_SegmentRun], config: DetectionConfig, result: WindowResult
) -> None:
    """Store the detected sequences of the runs (inside the caller's transaction), locking the
    sensor first so that concurrent runs of one sensor serialise."""
    if not result.detected:
        return
    # FOR NO KEY UPDATE: serialises detection runs of this sensor without blocking the
    # readings being inserted for it (their foreign key takes FOR KEY SHARE).
    list(
        Sensor.objects.select_for_update(no_key=True)
        .filter(pk=sensor_id)
        .values_list("pk", flat=True)
    )
    for run in runs:
        for kind, outcome in run.outcomes.items():
            if outcome.sequences:
                _persist_kind(
                    sensor_id=sensor_id,
                    household_key=run.household_key,
                    kind=kind,
                    outcome=outcome,
                    t_ns=run.t_ns,
                    kwh=run.kwh,
                    config=config,
                    result=result,
                )


def _audit_details(result: WindowResult, wanted: tuple[SequenceKind, ...]) -> dict[str, Any]:
    return {
        "window_start": result.window_start.isoformat(),
        "kinds": list(wanted),
        "status": dict(result.status),
        **result.counts(),
    }


def _segments_in_window(
    periods: list[Period],
    *,
    sensor_id: int,
    read_start: datetime,
    window_start: datetime,
    window_end: datetime,
) -> list[Period]:
    # One detection per household's time with the sensor (and per gap between periods): a peak
    # never joins readings of two households, and the 24 h reference of a household that just
    # got the sensor holds none of the previous household's readings.
    return [
        segment
        for segment in segments_of(
            periods, sensor_id=sensor_id, start=read_start, end=window_end + _INCLUSIVE
        )
        if segment.end is None or segment.end > window_start
    ]


def sequences_detect_window(
    *,
    sensor_id: int,
    window_start: datetime,
    window_end: datetime,
    kinds: Iterable[str] = ALL_KINDS,
    config: DetectionConfig = DEFAULT_CONFIG,
) -> WindowResult:
    """Detect the sensor's sequences of `kinds` ending in the window and store them (idempotent).

    Reads the sensor's own readings from 24 h before the window to its end (one query per
    household period the span meets; each period is detected on its own); writes,
    when anything was detected, in one transaction that locks the sensor and its nearby
    sequences, so concurrent runs of one sensor serialise. Records one audit event (counts only).
    Neither reads nor writes the kept arrays (`sequences_detect_window_many` does).
    Raises ValidationError for a window that is not an aware, aligned half hour or for unknown
    kinds.
    """
    detection_window_validate(window_start=window_start, window_end=window_end)
    wanted = _kinds_validate(kinds)
    window_start, window_end = window_start.astimezone(UTC), window_end.astimezone(UTC)
    result = WindowResult(sensor_id=sensor_id, window_start=window_start, window_end=window_end)
    read_start = window_start - timedelta(hours=config.reference_hours)
    segments = _segments_in_window(
        sensor_periods(sensor_id=sensor_id),
        sensor_id=sensor_id,
        read_start=read_start,
        window_start=window_start,
        window_end=window_end,
    )
    runs = _detect_runs(
        sensor_id=sensor_id,
        segments=segments,
        arrays=lambda segment: sensor_readings_arrays(
            sensor_id=sensor_id, start=read_start, end=window_end, period=segment
        ),
        wanted=wanted,
        config=config,
        result=result,
    )
    with transaction.atomic():
        _persist_runs(sensor_id=sensor_id, runs=runs, config=config, result=result)
        if result.changed_peak_ids:
            suggestions_enqueue(sequence_ids=result.changed_peak_ids)
        audit_event_record(
            title=AUDIT_TITLE,
            app_function="sequences_detect_window",
            app_component=AuditEvent.Component.WORKER,
            sensor_id=sensor_id,
            details=_audit_details(result, wanted),
        )
    return result


@dataclass
class _Kept:
    """A sensor's readings for one run: the kept part and where the fresh read starts."""

    t_ns: npt.NDArray[np.int64]
    kwh: npt.NDArray[np.float64]
    read_from: datetime


def _late_sensors(
    *,
    states: dict[int, DetectionState],
    sensor_ids: list[int],
    read_start: datetime,
    checked_at: datetime,
) -> tuple[dict[int, DetectionState], set[int]]:
    """The kept arrays that cover the run's reference start, and the sensors among them whose
    kept span got a reading after it was read (late arrivals): one query for all of them."""
    overlap = timedelta(seconds=settings.ENERGYLEAF_DETECTION_COMMIT_OVERLAP_SECONDS)
    usable = {
        sensor_id: state
        for sensor_id in sensor_ids
        if (state := states.get(sensor_id)) is not None
        and state.span_start <= read_start < state.span_end
        and state.checked_at <= checked_at
    }
    late = sensors_with_late_readings(
        checks={
            sensor_id: (state.checked_at - overlap, read_start, state.span_end)
            for sensor_id, state in usable.items()
        }
    )
    return usable, late


def _kept_arrays(
    *,
    usable: dict[int, DetectionState],
    late: set[int],
    sensor_ids: list[int],
    read_start: datetime,
) -> dict[int, _Kept]:
    """Per sensor: the kept readings from `read_start` on and where the fresh read starts. A
    sensor without usable kept arrays, or with a late arrival, reads everything from
    `read_start`."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
    kept: dict[int, _Kept] = {}
    for sensor_id in sensor_ids:
        state = usable.get(sensor_id)
        if state is None or sensor_id in late:
            kept[sensor_id] = _Kept(*empty, read_from=read_start)
            continue
        t_ns, kwh = state_unpack(bytes(state.times), bytes(state.consumption))
        t_ns, kwh = arrays_between(t_ns, kwh, instant_ns(read_start), instant_ns(state.span_end))
        kept[sensor_id] = _Kept(t_ns, kwh, read_from=state.span_end)
    return kept


def _state_rows(
    *,
    arrays: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
    states: dict[int, DetectionState],
    window_end: datetime,
    checked_at: datetime,
    late: set[int],
    config: DetectionConfig,
) -> list[DetectionState]:
    """The kept arrays after a run: the readings of the next window's reference period up to
    the window end, or up to ENERGYLEAF_DETECTION_KEEP_GRACE_SECONDS before the read when the
    run came that soon (readings in flight then would otherwise look late next time). Only
    where this moves a sensor's kept span forward, or replaces stale arrays."""
    grace = timedelta(seconds=settings.ENERGYLEAF_DETECTION_KEEP_GRACE_SECONDS)
    span_start = window_end - timedelta(hours=config.reference_hours)
    span_end = min(window_end, checked_at - grace)
    if span_end <= span_start:
        return []
    rows: list[DetectionState] = []
    for sensor_id, (t_ns, kwh) in arrays.items():
        old = states.get(sensor_id)
        if old is not None and sensor_id not in late and old.span_end >= span_end:
            continue
        t_keep, kwh_keep = arrays_between(t_ns, kwh, instant_ns(span_start), instant_ns(span_end))
        times, consumption = state_pack(t_keep, kwh_keep)
        rows.append(
            DetectionState(
                sensor_id=sensor_id,
                span_start=span_start,
                span_end=span_end,
                checked_at=checked_at,
                readings=int(t_keep.size),
                times=times,
                consumption=consumption,
            )
        )
    return rows


@dataclass
class BatchResult:
    """What one detection run over many sensors and one window did: each sensor's
    `WindowResult`, how many sensors were read whole (no usable kept arrays) and how many of
    those because of late arrivals, and how many readings were read from the database."""

    results: list[WindowResult] = field(default_factory=list)
    read_whole: int = 0
    late: int = 0
    readings_read: int = 0
    readings_kept: int = 0


def sequences_detect_window_many(
    *,
    sensor_ids: Iterable[int],
    window_start: datetime,
    window_end: datetime,
    kinds: Iterable[str] = ALL_KINDS,
    config: DetectionConfig = DEFAULT_CONFIG,
    keep: bool = True,
    now: datetime | None = None,
) -> BatchResult:
    """`sequences_detect_window` for many sensors, with the same detections and stored rows,
    reading the readings of ENERGYLEAF_DETECTION_FETCH_SENSORS sensors at a time in one binary
    query (memory stays bounded whatever the chunk size).

    With `keep`, each sensor's readings of the next reference period are kept between runs
    (`DetectionState`), so the next window reads only what came after them; a sensor with a
    reading that arrived late in the kept span is read whole again. Sequences are written only
    for sensors where something was detected, each sensor locked first as in
    `sequences_detect_window`; the audit events (one per sensor, as there) are inserted
    together. `now` (default: the time of each fetch) is when the readings were read, for the
    kept arrays.
    """
    detection_window_validate(window_start=window_start, window_end=window_end)
    wanted = _kinds_validate(kinds)
    window_start, window_end = window_start.astimezone(UTC), window_end.astimezone(UTC)
    ids = sorted(set(sensor_ids))
    batch = BatchResult()
    read_start = window_start - timedelta(hours=config.reference_hours)
    states = detection_states(sensor_ids=ids) if keep else {}
    # Taken before anything is read: every reading received before it (less the commit
    # overlap) is in what this run reads.
    checked_at = now or timezone.now()
    # One late-arrival query for the whole call: it scans the readings received since the
    # kept arrays were read, fleet-wide, so its cost is per call, not per sensor.
    usable, late = _late_sensors(
        states=states, sensor_ids=ids, read_start=read_start, checked_at=checked_at
    )
    batch.late = len(late)
    size = max(1, settings.ENERGYLEAF_DETECTION_FETCH_SENSORS)
    for first in range(0, len(ids), size):
        _detect_fetch_batch(
            sensor_ids=ids[first : first + size],
            window_start=window_start,
            window_end=window_end,
            wanted=wanted,
            config=config,
            keep=keep,
            batch=batch,
            states=states,
            usable=usable,
            late=late,
            checked_at=checked_at,
        )
    return batch


def _detect_fetch_batch(
    *,
    sensor_ids: list[int],
    window_start: datetime,
    window_end: datetime,
    wanted: tuple[SequenceKind, ...],
    config: DetectionConfig,
    keep: bool,
    batch: BatchResult,
    states: dict[int, DetectionState],
    usable: dict[int, DetectionState],
    late: set[int],
    checked_at: datetime,
) -> None:
    read_start = window_start - timedelta(hours=config.reference_hours)
    periods = sensors_periods(sensor_ids=sensor_ids)
    kept = _kept_arrays(usable=usable, late=late, sensor_ids=sensor_ids, read_start=read_start)
    fresh = sensors_readings_arrays(
        since={sensor_id: part.read_from for sensor_id, part in kept.items()}, end=window_end
    )
    arrays: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    for sensor_id in sensor_ids:
        part = kept[sensor_id]
        new_t, new_kwh = fresh[sensor_id]
        batch.readings_read += int(new_t.size)
        batch.readings_kept += int(part.t_ns.size)
        if part.read_from == read_start:
            batch.read_whole += 1
        if part.t_ns.size:
            arrays[sensor_id] = (
                np.concatenate((part.t_ns, new_t)),
                np.concatenate((part.kwh, new_kwh)),
            )
        else:
            arrays[sensor_id] = (new_t, new_kwh)
    window_end_ns = instant_ns(window_end)
    read_start_ns = instant_ns(read_start)
    events: list[dict[str, Any]] = []
    persist: list[tuple[int, list[_SegmentRun], WindowResult]] = []
    for sensor_id in sensor_ids:
        t_all, kwh_all = arrays_between(
            *arrays[sensor_id], read_start_ns, window_end_ns, end_inclusive=True
        )
        result = WindowResult(sensor_id=sensor_id, window_start=window_start, window_end=window_end)
        segments = _segments_in_window(
            periods.get(sensor_id, []),
            sensor_id=sensor_id,
            read_start=read_start,
            window_start=window_start,
            window_end=window_end,
        )
        runs = _detect_runs(
            sensor_id=sensor_id,
            segments=segments,
            arrays=partial(_segment_arrays, t_all, kwh_all),
            wanted=wanted,
            config=config,
            result=result,
        )
        if result.detected:
            persist.append((sensor_id, runs, result))
        events.append(
            {
                "title": AUDIT_TITLE,
                "app_function": "sequences_detect_window_many",
                "app_component": AuditEvent.Component.WORKER,
                "sensor_id": sensor_id,
                "details": _audit_details(result, wanted),
            }
        )
        batch.results.append(result)
    # One transaction (one commit) for the fetch's writes. Sensors are locked in ascending id
    # order, so two runs over overlapping sensors cannot deadlock; a failure rolls everything
    # back and the task runs again (idempotent).
    with transaction.atomic():
        for sensor_id, runs, result in persist:
            _persist_runs(sensor_id=sensor_id, runs=runs, config=config, result=result)
            if result.changed_peak_ids:
                suggestions_enqueue(sequence_ids=result.changed_peak_ids)
        if keep:
            rows = _state_rows(
                arrays=arrays,
                states=states,
                window_end=window_end,
                checked_at=checked_at,
                late=late,
                config=config,
            )
            detection_states_save(rows=rows)
        audit_events_record(events=events)


def _segment_arrays(
    t_ns: npt.NDArray[np.int64], kwh: npt.NDArray[np.float64], segment: Period
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The readings of one segment, as the period condition of the per-sensor query cuts them."""
    return arrays_between(
        t_ns,
        kwh,
        None if segment.start is None else instant_ns(segment.start),
        None if segment.end is None else instant_ns(segment.end),
    )


def detection_states_save(*, rows: list[DetectionState]) -> None:
    """Insert or replace the kept arrays of these sensors (one statement)."""
    if not rows:
        return
    DetectionState.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["sensor"],
        update_fields=[
            "span_start",
            "span_end",
            "checked_at",
            "readings",
            "times",
            "consumption",
            "updated_at",
        ],
    )


def detection_states_forget(*, sensor_ids: Iterable[int]) -> int:
    """Drop the kept arrays of these sensors (their readings were deleted or changed outside
    ingestion): their next run reads everything afresh. Returns how many were dropped."""
    deleted, _ = DetectionState.objects.filter(sensor_id__in=list(sensor_ids)).delete()
    return deleted


def _last_scheduled_window(wanted: tuple[SequenceKind, ...]) -> datetime | None:
    """Start of the latest window a scheduled fan-out enqueued for all of `wanted`, from the
    audit log (a fan-out records its event only after every task was sent)."""
    recent = (
        AuditEvent.objects.filter(title=FANOUT_AUDIT_TITLE)
        .order_by("-timestamp")
        .values_list("details", flat=True)[:200]
    )
    for details in recent:
        if not isinstance(details, dict) or not details.get("scheduled"):
            continue
        if not set(wanted) <= set(details.get("kinds") or ()):
            continue
        try:
            return datetime.fromisoformat(str(details["window_start"])).astimezone(UTC)
        except (KeyError, ValueError):
            continue
    return None


def detection_windows_due(*, now: datetime, kinds: Iterable[str] = ALL_KINDS) -> list[datetime]:
    """Starts of the windows a scheduled fan-out at `now` enqueues: the half hour that just
    ended and, when earlier scheduled runs were missed (beat could not reach the broker, the
    worker was down), the windows after the last one that was enqueued, at most
    ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS windows in all, oldest first. Without any earlier
    run (a new installation) it is the window that just ended alone."""
    wanted = _kinds_validate(kinds)
    limit = max(1, settings.ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS)
    latest, end = detection_window_just_ended(now)
    last = _last_scheduled_window(wanted)
    if last is None or last >= latest:
        return [latest]
    windows = list(detection_windows_between(start=last + WINDOW, end=end))
    return windows[-limit:]


def sequences_detect_fanout(
    *,
    kinds: Iterable[str] = ALL_KINDS,
    window_start: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Enqueue (after commit) one detection task per window and chunk of
    ENERGYLEAF_DETECTION_CHUNK_SENSORS assigned electricity sensors.

    With `window_start` it is that window alone. Without (the beat schedule), it is the half
    hour that just ended at `now` plus any windows that scheduled runs missed since the last one
    that got through (`detection_windows_due`), oldest first: at most
    ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS * ceil(sensors / chunk) tasks. Returns how many tasks
    were enqueued and records an audit event with the counts, after the tasks were sent: a run
    that fails half-way (broker down) is caught up by the next one.
    """
    wanted = _kinds_validate(kinds)
    scheduled = window_start is None
    if window_start is None:
        windows = detection_windows_due(now=now or timezone.now(), kinds=wanted)
    else:
        detection_window_validate(window_start=window_start, window_end=window_start + WINDOW)
        windows = [window_start.astimezone(UTC)]
    sensor_ids = electricity_sensor_ids_assigned(start=min(windows), end=max(windows) + WINDOW)
    size = max(1, settings.ENERGYLEAF_DETECTION_CHUNK_SENSORS)
    chunks = [sensor_ids[first : first + size] for first in range(0, len(sensor_ids), size)]
    for start in windows:
        start_iso = start.isoformat()
        for chunk in chunks:
            # partial binds this chunk now; the message is sent once the transaction commits
            # (at once outside a transaction).
            transaction.on_commit(
                partial(detect_sequences_for_sensors_task.delay, chunk, start_iso, list(wanted))
            )
    # Recorded after the last message was sent (callbacks run in order and stop at the first
    # that raises): a run that failed half-way leaves no event, and the next run catches it up.
    transaction.on_commit(
        partial(
            audit_event_record,
            title=FANOUT_AUDIT_TITLE,
            app_function="sequences_detect_fanout",
            app_component=AuditEvent.Component.WORKER,
            details={
                "window_start": windows[-1].isoformat(),
                "windows": len(windows),
                "scheduled": scheduled,
                "kinds": list(wanted),
                "sensors": len(sensor_ids),
                "tasks": len(chunks) * len(windows),
            },
        )
    )
    return len(chunks) * len(windows)


def sequences_detect_enqueue(*, kinds: Iterable[str] = ALL_KINDS) -> None:
    """Enqueue a detection fan-out for the half hour that just ended, after the current
    transaction commits (an operator's manual trigger), and record it in the audit log."""
    wanted = list(_kinds_validate(kinds))
    transaction.on_commit(partial(detect_sequences_fanout_task.delay, kinds=wanted))
    audit_event_record(
        title="analytics/detection-triggered",
        app_function="sequences_detect_enqueue",
        app_component=AuditEvent.Component.API,
        details={"kinds": wanted},
    )
