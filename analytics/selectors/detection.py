"""Reads for peak and anomaly detection: readings as numpy arrays (one sensor, or many in one
query), the arrays kept between runs and late arrivals into them, the sensors to
run detection for, and stored sequences near a time span. Times are aware UTC."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import numpy.typing as npt
from django.db.models import Q

from analytics.models import DetectionState, Sequence
from sensors.compute.mac import canonical_mac_or_none
from sensors.models import Sensor, SensorAssignment
from sensors.selectors.assignments import Period
from sensors.selectors.readings import (
    readings_arrays,
    readings_arrays_many,
    readings_received_late,
)

Arrays = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


def sensor_readings_arrays(
    *, sensor_id: int, start: datetime, end: datetime, period: Period | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The sensor's readings with start <= timestamp <= end (within `period` when given),
    ascending: int64 ns since the epoch (UTC) and float64 consumption (kWh since the previous
    reading). One SQL query (`sensors.selectors.readings.readings_arrays`)."""
    return readings_arrays(sensor_id=sensor_id, start=start, end=end, period=period)


def sensors_readings_arrays(*, since: dict[int, datetime], end: datetime) -> dict[int, Arrays]:
    """Per sensor of `since`: all its readings with since[sensor] <= timestamp <= end, ascending
    (int64 ns, float64 kWh as `sensor_readings_arrays`), whoever's they are; on PostgreSQL one
    binary COPY for all (`sensors.selectors.readings.readings_arrays_many`)."""
    return readings_arrays_many(since=since, end=end)


def sensors_with_late_readings(
    *, checks: dict[int, tuple[datetime, datetime, datetime]]
) -> set[int]:
    """Sensors (id -> (received_since, start, end)) with a reading in [start, end) received at
    or after received_since: their kept arrays are stale."""
    return readings_received_late(checks=checks)


def detection_states(*, sensor_ids: Iterable[int]) -> dict[int, DetectionState]:
    """The kept detection arrays of these sensors, by sensor id (sensors without one are absent)."""
    return {
        state.sensor_id: state
        for state in DetectionState.objects.filter(sensor_id__in=list(sensor_ids))
    }


def electricity_sensor_ids_assigned(
    *, start: datetime | None = None, end: datetime | None = None
) -> list[int]:
    """Ids of the electricity sensors assigned to a household, ascending; with [start, end),
    those held by a household at some time in it (a sensor reset during a window still has
    its household's part of that window detected)."""
    if start is None or end is None:
        return list(
            Sensor.objects.filter(sensor_type=Sensor.SensorType.ELECTRICITY, user__isnull=False)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return sorted(
        set(
            SensorAssignment.objects.filter(
                Q(valid_to__isnull=True) | Q(valid_to__gt=start),
                sensor__sensor_type=Sensor.SensorType.ELECTRICITY,
                valid_from__lt=end,
            ).values_list("sensor_id", flat=True)
        )
    )


def sensor_id_by_client_id(*, client_id: str) -> int | None:
    """The id of the sensor with this MAC address (any spelling), or None."""
    mac = canonical_mac_or_none(client_id)
    if mac is None:
        return None
    return Sensor.objects.filter(client_id=mac).values_list("pk", flat=True).first()


def sequences_near(
    *,
    sensor_id: int,
    kinds: Iterable[str],
    start: datetime,
    end: datetime,
    for_update: bool = False,
    household_key: int | None = None,
) -> list[Sequence]:
    """Stored sequences of the sensor and kinds that overlap or touch [start, end], by start;
    only those of the household `household_key` when given.

    With `for_update` the rows are locked until the end of the transaction.
    """
    queryset = Sequence.objects.filter(
        sensor_id=sensor_id, kind__in=list(kinds), end__gte=start, start__lte=end
    ).order_by("start", "pk")
    if household_key is not None:
        queryset = queryset.filter(household_key=household_key)
    if for_update:
        queryset = queryset.select_for_update()
    return list(queryset)


def sequence_latest(
    *, sensor_id: int, kind: str, before: datetime, household_key: int | None = None
) -> Sequence | None:
    """The stored sequence of the sensor and kind (and household, when given) that starts at or
    before `before` and ends last, or None."""
    queryset = Sequence.objects.filter(sensor_id=sensor_id, kind=kind, start__lte=before)
    if household_key is not None:
        queryset = queryset.filter(household_key=household_key)
    return queryset.order_by("-end", "-pk").first()
