"""Benchmark of one 30-minute peak/anomaly detection run over many sensors, in one process.

    python bench/detection.py [--sensors 10000] [--seed 0]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_detection]

1. Drops and creates the (dedicated) database, migrates, bulk-creates `--sensors` households
   with one assigned electricity sensor each.
2. Generates 24.5 h of 15-s readings per sensor (the 24 h reference and the window) with numpy
   and loads them with psycopg COPY: a noisy base load per household and a few appliance runs a
   day; about a third of the sensors run an appliance in the window, a few an anomaly-sized load.
3. Ceiling: reads every sensor's arrays (`sensor_readings_arrays`, the same single query the
   service makes) without detecting or storing anything.
4. Run: `sequences_detect_window` for every sensor, sequentially, as the per-sensor Celery tasks
   of one fan-out would (no broker): read, detect peaks and anomalies, store, audit.

Prints total seconds, ms per sensor, readings read per second and the ratio ceiling / run, and
writes bench/results/detection-<time>.json. Target (docs/design.md, "Performance targets"): 10 000
sensors under 60 s on one worker process.
"""

from __future__ import annotations

import argparse
import io
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
COPY_SQL = (
    "COPY sensors_reading (sensor_id, timestamp, value, consumption, flags, received_at) FROM STDIN"
)


def create_sensors(count: int) -> list[int]:
    """`count` users, each with one assigned electricity sensor (bulk, no per-row services)."""
    from energyleaf.users.models import User
    from sensors.models import Sensor

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


def load_readings(database_url: str, sensor_ids: list[int], seed: int) -> int:
    """COPY 24.5 h of 15-s readings per sensor; returns the number of rows."""
    import psycopg
    from psycopg import sql

    first = WINDOW_START - timedelta(hours=REFERENCE_H)
    count = int((WINDOW_END - first).total_seconds()) // STEP_S + 1
    window_from = int((WINDOW_START - first).total_seconds()) // STEP_S
    stamps = [(first + timedelta(seconds=STEP_S * i)).isoformat() for i in range(count)]
    received = datetime.now(tz=UTC).isoformat()
    rng = np.random.default_rng(seed)
    rows = 0
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
                    power = power_profile(rng, count - 1, window_from)
                    energy = np.round(power * STEP_S / 3.6e6, 6)
                    consumption = np.concatenate(([0.0], energy))
                    register = np.round(1000.0 + np.cumsum(consumption), 6)
                    buffer = io.StringIO()
                    prefix = f"{sensor_id}\t"
                    for stamp, value, kwh in zip(
                        stamps, register.tolist(), consumption.tolist(), strict=True
                    ):
                        buffer.write(f"{prefix}{stamp}\t{value:.6f}\t{kwh:.6f}\t0\t{received}\n")
                    copy.write(buffer.getvalue())
                    rows += count
            if batch_from and batch_from % 2000 == 0:
                rate = rows / (time.perf_counter() - started)
                common.log(f"  {batch_from} sensors, {rows} readings ({rate:,.0f}/s)")
        for _, definition in secondary:
            conn.execute(definition.encode())
        conn.execute("ANALYZE sensors_reading")
    return rows


def run_ceiling(sensor_ids: list[int]) -> tuple[float, int]:
    from analytics.selectors.detection import sensor_readings_arrays

    read = 0
    started = time.perf_counter()
    for sensor_id in sensor_ids:
        t_ns, _ = sensor_readings_arrays(
            sensor_id=sensor_id, start=WINDOW_START - timedelta(hours=REFERENCE_H), end=WINDOW_END
        )
        read += t_ns.size
    return time.perf_counter() - started, read


def run_detection(sensor_ids: list[int]) -> tuple[float, dict[str, int]]:
    from analytics.services.detection import sequences_detect_window

    totals = {"detected": 0, "inserted": 0, "updated": 0, "unchanged": 0, "absorbed": 0}
    started = time.perf_counter()
    for sensor_id in sensor_ids:
        result = sequences_detect_window(
            sensor_id=sensor_id, window_start=WINDOW_START, window_end=WINDOW_END
        )
        for name, value in result.counts().items():
            totals[name] += value
    return time.perf_counter() - started, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)
    started = time.perf_counter()
    sensor_ids = create_sensors(args.sensors)
    common.log(f"{len(sensor_ids)} sensors in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rows = load_readings(args.database_url, sensor_ids, args.seed)
    load_s = time.perf_counter() - started
    common.log(f"{rows} readings loaded in {load_s:.1f} s ({rows / load_s:,.0f}/s)")
    common.close_django_connections()

    ceiling_s, read = run_ceiling(sensor_ids)
    common.log(f"ceiling (read only): {ceiling_s:.2f} s")
    run_s, totals = run_detection(sensor_ids)
    common.log(f"run (read, detect, store, audit): {run_s:.2f} s; {totals}")
    rerun_s, rerun_totals = run_detection(sensor_ids)
    common.log(f"re-run of the same window: {rerun_s:.2f} s; {rerun_totals}")

    n = len(sensor_ids)
    per_10k = run_s / n * 10_000
    result: dict[str, Any] = {
        "sensors": n,
        "readings": rows,
        "readings_per_sensor": rows // n,
        "load_seconds": round(load_s, 2),
        "ceiling_seconds": round(ceiling_s, 3),
        "run_seconds": round(run_s, 3),
        "rerun_seconds": round(rerun_s, 3),
        "ms_per_sensor": round(run_s / n * 1000, 3),
        "ceiling_ms_per_sensor": round(ceiling_s / n * 1000, 3),
        "readings_read_per_second": round(read / run_s),
        "ceiling_readings_per_second": round(read / ceiling_s),
        "ratio_ceiling_to_run": round(ceiling_s / run_s, 3),
        "seconds_per_10000_sensors": round(per_10k, 1),
        "target_seconds_per_10000_sensors": TARGET_S_PER_10K,
        "meets_target": per_10k < TARGET_S_PER_10K,
        "first_run": totals,
        "rerun": rerun_totals,
        "machine": common.machine_description(),
        "revision": common.git_revision(),
    }
    common.print_table(
        ["measure", "value"],
        [
            ["sensors", n],
            ["run seconds", f"{run_s:.2f}"],
            ["ms per sensor", f"{run_s / n * 1000:.2f}"],
            ["readings read / s", f"{read / run_s:,.0f}"],
            ["ceiling seconds (read only)", f"{ceiling_s:.2f}"],
            ["ceiling / run", f"{ceiling_s / run_s:.2f}"],
            ["re-run seconds", f"{rerun_s:.2f}"],
            ["s per 10 000 sensors", f"{per_10k:.1f} (target < {TARGET_S_PER_10K:.0f})"],
        ],
    )
    common.log(f"wrote {common.write_result('detection', result)}")


if __name__ == "__main__":
    main()
