"""Benchmark of peak/anomaly detection over many sensors: a first run and the incremental run of
the next window, against the bare binary fetch of the same arrays, in one process.

    python bench/detection.py [--sensors 10000] [--seed 0] [--chunk 500]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_detection]

1. Drops and creates the (dedicated) database, migrates, bulk-creates `--sensors` households
   with one assigned electricity sensor each.
2. Generates 24.5 h of 15-s readings per sensor (the 24 h reference and the window) with numpy
   and loads them with psycopg COPY: a noisy base load per household and a few appliance runs a
   day; about a third of the sensors run an appliance in the window, a few an anomaly-sized load.
3. Ceiling: reads every sensor's 24.5 h arrays in binary form alone
   (`sensors_readings_arrays`, one COPY … (FORMAT binary) per ENERGYLEAF_DETECTION_FETCH_SENSORS
   sensors), without detecting or storing anything.
4. First run: `sequences_detect_window_many` for chunks of `--chunk` sensors, sequentially, as
   the chunk tasks of one fan-out would (no broker): read everything (no kept arrays yet),
   detect peaks and anomalies, store, audit, keep each sensor's next reference period.
5. Loads the next 30 minutes of readings (received now) plus, for 1 % of the sensors, a late
   reading inside the kept span, then the incremental run of the next window: kept arrays plus
   what came after them, the late sensors read whole.

Prints seconds, ms per sensor and the ratio ceiling / run of both runs and the target (10 000
sensors < 60 s per window), and writes bench/results/detection-<time>.json. The ceiling reads
24.5 h per sensor, the incremental run much less: its ratio can exceed 1.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench_detection"
WINDOW_START = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(minutes=30)
STEP_S = 15
REFERENCE_H = 24
TARGET_S_PER_10K = 60.0
TARGET_RATIO = 0.5
COPY_SQL = (
    "COPY sensors_reading (sensor_id, timestamp, value, consumption, flags, received_at) FROM STDIN"
)


def create_sensors(count: int) -> list[int]:
    """`count` users, each with one assigned electricity sensor and its assignment period
    (bulk, no per-row services)."""
    from energyleaf.users.models import User
    from sensors.models import Sensor, SensorAssignment

    users = User.objects.bulk_create(
        [
            User(email=f"detection-{n}@bench.invalid", password="!", username=f"d{n}")  # noqa: S106
            for n in range(count)
        ],
        batch_size=2000,
    )
    sensors = Sensor.objects.bulk_create(
        [
            Sensor(
                client_id=f"BD:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}:01",
                user=user,
                sensor_type=Sensor.SensorType.ELECTRICITY,
            )
            for n, user in enumerate(users)
        ],
        batch_size=2000,
    )
    # Their households' periods, as the assignment service would have opened them.
    SensorAssignment.objects.bulk_create(
        [
            SensorAssignment(
                sensor=sensor,
                user=sensor.user,
                household_key=sensor.user.pk,
                valid_from=WINDOW_START - timedelta(days=30),
            )
            for sensor in sensors
        ],
        batch_size=2000,
    )
    return [sensor.pk for sensor in sensors]


def power_profile(rng: np.random.Generator, intervals: int, window_from: int) -> np.ndarray:
    """Power (W) per 15-s interval: base load with noise plus appliance runs."""
    power = rng.uniform(120, 400) + rng.normal(0.0, rng.uniform(5, 40), intervals)
    for _ in range(int(rng.integers(3, 10))):  # appliance runs over the day
        length = int(rng.integers(8, 120))
        start = int(rng.integers(0, intervals - length))
        power[start : start + length] += rng.uniform(800, 2500)
    if rng.random() < 0.33:  # a run in the window
        length = int(rng.integers(8, 60))
        start = window_from + int(rng.integers(0, 120 - length // 2))
        power[start : start + length] += rng.uniform(800, 2500)
    if rng.random() < 0.03:  # an anomaly-sized load in the window
        start = window_from + int(rng.integers(0, 80))
        power[start : start + 30] += rng.uniform(4000, 7000)
    return np.clip(power, 0.0, None)


def _rows(sensor_id: int, stamps: list[str], consumption: np.ndarray, received: str) -> str:
    register = np.round(1000.0 + np.cumsum(consumption), 6)
    prefix = f"{sensor_id}\t"
    return "".join(
        f"{prefix}{stamp}\t{value:.6f}\t{kwh:.6f}\t0\t{received}\n"
        for stamp, value, kwh in zip(stamps, register.tolist(), consumption.tolist(), strict=True)
    )


NEXT = 30 * 60 // STEP_S  # readings of the next window


def load_readings(
    database_url: str, sensor_ids: list[int], seed: int
) -> tuple[int, dict[int, np.ndarray]]:
    """COPY 24.5 h of 15-s readings per sensor; returns the number of rows and each sensor's
    power over the next window (the same profile continued, loaded later)."""
    import psycopg
    from psycopg import sql

    first = WINDOW_START - timedelta(hours=REFERENCE_H)
    count = int((WINDOW_END - first).total_seconds()) // STEP_S + 1
    window_from = int((WINDOW_START - first).total_seconds()) // STEP_S
    stamps = [(first + timedelta(seconds=STEP_S * i)).isoformat() for i in range(count)]
    # received an hour ago: before any run, as live readings are
    received = (datetime.now(tz=UTC) - timedelta(hours=1)).isoformat()
    rng = np.random.default_rng(seed)
    rows = 0
    following: dict[int, np.ndarray] = {}
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Load speed only: no per-row foreign-key triggers, secondary indexes built afterwards
        # (the same definitions, so the table ends up exactly as migrated).
        conn.execute("SET session_replication_role = replica")
        secondary = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sensors_reading' "
            "AND indexname IN ('reading_time_idx', 'reading_received_idx')"
        ).fetchall()
        for name, _ in secondary:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for batch_from in range(0, len(sensor_ids), 200):
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                for sensor_id in sensor_ids[batch_from : batch_from + 200]:
                    whole = power_profile(rng, count - 1 + NEXT, window_from)
                    power, following[sensor_id] = whole[: count - 1], whole[count - 1 :]
                    energy = np.round(power * STEP_S / 3.6e6, 6)
                    consumption = np.concatenate(([0.0], energy))
                    copy.write(_rows(sensor_id, stamps, consumption, received))
                    rows += count
            if batch_from and batch_from % 2000 == 0:
                rate = rows / (time.perf_counter() - started)
                common.log(f"  {batch_from} sensors, {rows} readings ({rate:,.0f}/s)")
        for _, definition in secondary:
            conn.execute(definition.encode())
        conn.execute("ANALYZE sensors_reading")
    return rows, following


def load_next_window(
    database_url: str, sensor_ids: list[int], following: dict[int, np.ndarray]
) -> tuple[int, int]:
    """COPY the next 30 minutes of readings, received now, and for every 100th sensor one late
    reading in its kept span (a second between two of its readings 12 h before the window).
    Returns (readings, late readings)."""
    import psycopg

    count = NEXT
    stamps = [(WINDOW_END + timedelta(seconds=STEP_S * (i + 1))).isoformat() for i in range(count)]
    late_stamp = (WINDOW_END - timedelta(hours=12, seconds=-1)).isoformat()
    received = datetime.now(tz=UTC).isoformat()
    rows = late = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        for batch_from in range(0, len(sensor_ids), 500):
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                for n, sensor_id in enumerate(sensor_ids[batch_from : batch_from + 500]):
                    power = following[sensor_id]
                    energy = np.round(power * STEP_S / 3.6e6, 6)
                    copy.write(_rows(sensor_id, stamps, energy, received))
                    rows += count
                    if (batch_from + n) % 100 == 0:
                        copy.write(_rows(sensor_id, [late_stamp], np.zeros(1), received))
                        late += 1
        conn.execute("ANALYZE sensors_reading")
    return rows, late


def run_ceiling(sensor_ids: list[int]) -> tuple[float, int]:
    """The arrays as the runs read them (`sensors_readings_arrays`), ENERGYLEAF_DETECTION_FETCH_
    SENSORS sensors per query, and nothing else."""
    from django.conf import settings

    from analytics.selectors.detection import sensors_readings_arrays

    read = 0
    since = WINDOW_START - timedelta(hours=REFERENCE_H)
    size = settings.ENERGYLEAF_DETECTION_FETCH_SENSORS
    started = time.perf_counter()
    for first in range(0, len(sensor_ids), size):
        arrays = sensors_readings_arrays(
            since=dict.fromkeys(sensor_ids[first : first + size], since), end=WINDOW_END
        )
        read += sum(t_ns.size for t_ns, _ in arrays.values())
    return time.perf_counter() - started, read


COPY_BINARY_SQL = (
    'COPY (SELECT r.sensor_id::int8, r."timestamp", '
    "COALESCE(r.consumption::float8, 'NaN'::float8) FROM sensors_reading r "
    'WHERE r.sensor_id = ANY(%s) AND r."timestamp" >= %s AND r."timestamp" <= %s '
    'ORDER BY r.sensor_id, r."timestamp") TO STDOUT (FORMAT binary)'
)
# Each row: field count, then length and value of bigint, timestamptz and float8 (no NULLs).
COPY_RECORD = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("sensor", ">i8"), ("l2", ">i4"), ("t", ">i8"),
     ("l3", ">i4"), ("kwh", ">f8")]
)  # fmt: skip


def run_ceiling_copy(database_url: str, sensor_ids: list[int], size: int) -> tuple[float, int]:
    """The other bare binary fetch: COPY … TO STDOUT (FORMAT binary) of the same rows, `size`
    sensors at a time, parsed by numpy and split per sensor."""
    import psycopg

    since = WINDOW_START - timedelta(hours=REFERENCE_H)
    read = 0
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cursor:
        for first in range(0, len(sensor_ids), size):
            buffer = bytearray()
            params = [sensor_ids[first : first + size], since, WINDOW_END]
            with cursor.copy(COPY_BINARY_SQL, params) as copy:
                while block := copy.read():
                    buffer += block
            header = 19 + int.from_bytes(buffer[15:19], "big")
            count = (len(buffer) - header - 2) // COPY_RECORD.itemsize
            records = np.frombuffer(buffer, dtype=COPY_RECORD, offset=header, count=count)
            sensors = records["sensor"].astype(np.int64)
            t_ns = (records["t"].astype(np.int64) + 946_684_800_000_000) * 1000
            kwh = records["kwh"].astype(np.float64)
            cuts = np.flatnonzero(np.diff(sensors)) + 1
            arrays = list(zip(np.split(t_ns, cuts), np.split(kwh, cuts), strict=True))
            read += sum(part.size for part, _ in arrays)
    return time.perf_counter() - started, read


def run_detection(sensor_ids: list[int], window_start: datetime, chunk: int) -> dict[str, Any]:
    """The chunk tasks of one fan-out, one after the other in this process."""
    from analytics.services.detection import WINDOW, sequences_detect_window_many

    totals = {"detected": 0, "inserted": 0, "updated": 0, "unchanged": 0, "absorbed": 0}
    figures = {"read_whole": 0, "late": 0, "readings_read": 0, "readings_kept": 0}
    started = time.perf_counter()
    for first in range(0, len(sensor_ids), chunk):
        batch = sequences_detect_window_many(
            sensor_ids=sensor_ids[first : first + chunk],
            window_start=window_start,
            window_end=window_start + WINDOW,
        )
        for result in batch.results:
            for name, value in result.counts().items():
                totals[name] += value
        for name in figures:
            figures[name] += getattr(batch, name)
    return {"seconds": time.perf_counter() - started, **figures, **totals}


def state_bytes() -> tuple[int, int]:
    """Rows and total bytes (table, TOAST, index) of the kept detection arrays."""
    from django.db import connection

    from analytics.models import DetectionState

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [DetectionState._meta.db_table])
        (size,) = cursor.fetchone()
    return DetectionState.objects.count(), int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=500, help="sensors per task")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    started = time.perf_counter()
    sensor_ids = create_sensors(args.sensors)
    common.log(f"{len(sensor_ids)} sensors in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rows, following = load_readings(args.database_url, sensor_ids, args.seed)
    load_s = time.perf_counter() - started
    common.log(f"{rows} readings loaded in {load_s:.1f} s ({rows / load_s:,.0f}/s)")
    common.close_django_connections()

    from django.conf import settings

    arrays_s, read = run_ceiling(sensor_ids)
    common.log(f"binary arrays (the runs' fetch) alone: {arrays_s:.2f} s, {read} readings")
    copy_s, copied = run_ceiling_copy(
        args.database_url, sensor_ids, settings.ENERGYLEAF_DETECTION_FETCH_SENSORS
    )
    common.log(f"COPY (FORMAT binary) alone: {copy_s:.2f} s, {copied} readings")
    ceiling_s = min(arrays_s, copy_s)
    peak_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    first = run_detection(sensor_ids, WINDOW_START, args.chunk)
    common.log(f"first run (read all, detect, store, audit, keep): {first}")
    states, states_size = state_bytes()
    common.close_django_connections()
    next_rows, late = load_next_window(args.database_url, sensor_ids, following)
    common.log(f"next window: {next_rows} readings and {late} late ones loaded")
    incremental = run_detection(sensor_ids, WINDOW_END, args.chunk)
    common.log(f"incremental run (next window): {incremental}")

    n = len(sensor_ids)
    first_s, incremental_s = first["seconds"], incremental["seconds"]
    result: dict[str, Any] = {
        "sensors": n,
        "chunk_sensors": args.chunk,
        "readings": rows,
        "readings_per_sensor": rows // n,
        "load_seconds": round(load_s, 2),
        "ceiling_seconds": round(ceiling_s, 3),
        "ceiling_binary_arrays_seconds": round(arrays_s, 3),
        "ceiling_copy_binary_seconds": round(copy_s, 3),
        "ceiling_ms_per_sensor": round(ceiling_s / n * 1000, 3),
        "ceiling_readings_per_second": round(read / ceiling_s),
        "first_run_seconds": round(first_s, 3),
        "first_run_ms_per_sensor": round(first_s / n * 1000, 3),
        "ratio_ceiling_to_first_run": round(ceiling_s / first_s, 3),
        "incremental_run_seconds": round(incremental_s, 3),
        "incremental_run_ms_per_sensor": round(incremental_s / n * 1000, 3),
        "ratio_ceiling_to_incremental_run": round(ceiling_s / incremental_s, 3),
        "first_run_seconds_per_10000_sensors": round(first_s / n * 10_000, 1),
        "incremental_run_seconds_per_10000_sensors": round(incremental_s / n * 10_000, 1),
        "target_seconds_per_10000_sensors": TARGET_S_PER_10K,
        "target_ratio": TARGET_RATIO,
        "kept_states": states,
        # peak RSS of this process before the runs (generation, load, ceilings) and after them
        "peak_rss_mb_before_runs": round(peak_before_kb / 1024),
        "peak_rss_mb_after_runs": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "kept_bytes_per_sensor": round(states_size / max(states, 1)),
        "first_run": first,
        "incremental_run": incremental,
        "machine": common.machine_description(),
        "revision": common.git_revision(),
    }
    common.print_table(
        ["measure", "ceiling (faster bare fetch)", "first run", "incremental run"],
        [
            ["seconds", f"{ceiling_s:.2f}", f"{first_s:.2f}", f"{incremental_s:.2f}"],
            [
                "ms per sensor",
                f"{ceiling_s / n * 1000:.2f}",
                f"{first_s / n * 1000:.2f}",
                f"{incremental_s / n * 1000:.2f}",
            ],
            [
                "ceiling / run",
                "1",
                f"{ceiling_s / first_s:.2f}",
                f"{ceiling_s / incremental_s:.2f} (target >= {TARGET_RATIO})",
            ],
            [
                "s per 10 000 sensors",
                f"{ceiling_s / n * 10_000:.1f}",
                f"{first_s / n * 10_000:.1f}",
                f"{incremental_s / n * 10_000:.1f} (target < {TARGET_S_PER_10K:.0f})",
            ],
            [
                "readings read",
                str(read),
                str(first["readings_read"]),
                f"{incremental['readings_read']} (+{incremental['readings_kept']} kept)",
            ],
            [
                "sensors read whole (late)",
                str(n),
                str(first["read_whole"]),
                f"{incremental['read_whole']} ({incremental['late']})",
            ],
        ],
    )
    common.log(f"kept arrays: {states} rows, {states_size / max(states, 1):,.0f} bytes per sensor")
    common.log(f"wrote {common.write_result('detection', result)}")


if __name__ == "__main__":
    main()
