"""Benchmark of the local-period aggregates on a year of 15-s readings, against a bare SQL ceiling.

    python bench/aggregates.py [--days 366] [--repeat 15]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_aggregates]

1. drops and creates its own PostgreSQL database, migrates, registers one household (Europe/Berlin)
   with one electricity sensor through the services;
2. COPYs `--days` of readings 15 s apart (2024-01-01 UTC on; 366 days = 2 108 160 rows) with a
   daily power profile, feed-in around noon and `received_at` one second after each timestamp;
3. builds the rollups with the first `rollups_refresh` (the incremental path from an empty
   watermark) and times it; then times an incremental refresh after 5 minutes of new readings
   plus one late reading back-filled into an old bucket;
4. times `consumption_aggregates` for the whole range at day, hour, week and month resolution
   (`--repeat` runs each, median and max) and the same through the API view in-process;
5. ceiling, same run: the bare SQL sum over the rollup table for the range.

Target (the issue): a year of daily and hourly aggregates for one household under 100 ms.
Writes bench/results/aggregates-<time>.json.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench_aggregates"
START = datetime(2024, 1, 1, tzinfo=UTC)
STEP_S = 15
TARGET_MS = 100.0
ZONE = "Europe/Berlin"


def power_w(k: int) -> float:
    """Power of reading k (W): a base load, a daily evening peak and some wobble."""
    seconds = k * STEP_S
    hour = (seconds % 86_400) / 3600
    evening = 1500.0 * math.exp(-((hour - 19.0) ** 2) / 4.0)
    return 250.0 + evening + 80.0 * math.sin(k / 37.0)


def feed_in_kwh(k: int) -> float:
    hour = (k * STEP_S % 86_400) / 3600
    watts = max(0.0, 2000.0 * math.sin((hour - 6.0) / 12.0 * math.pi)) if 6 <= hour <= 18 else 0.0
    return watts * STEP_S / 3_600_000


def copy_readings(sensor_id: int, count: int) -> float:
    """COPY `count` readings into the readings table; returns the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    columns = (
        "sensor_id, timestamp, value, consumption, value_out, inserted, value_current, flags, "
        "received_at"
    )
    chunk = 200_000
    value = 1000.0
    value_out = 0.0
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection
    with connection.cursor() as cursor:
        with raw.cursor() as copy_cursor:
            for first in range(0, count, chunk):
                buffer = io.StringIO()
                for k in range(first, min(first + chunk, count)):
                    stamp = START + timedelta(seconds=k * STEP_S)
                    power = power_w(k)
                    used = power * STEP_S / 3_600_000 if k else 0.0
                    fed = feed_in_kwh(k) if k else 0.0
                    value += used
                    value_out += fed
                    received = stamp + timedelta(seconds=1)
                    buffer.write(
                        f"{sensor_id}\t{stamp.isoformat()}\t{value:.6f}\t{used:.6f}\t"
                        f"{value_out:.6f}\t{fed:.6f}\t{power:.3f}\t0\t{received.isoformat()}\n"
                    )
                with copy_cursor.copy(f"COPY sensors_reading ({columns}) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
                common.log(f"copied {min(first + chunk, count):,} readings")
        cursor.execute("ANALYZE sensors_reading")
    return time.perf_counter() - started


def timed(function: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median and max wall time (ms) of `repeat` calls after one warm-up call."""
    function()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(runs), "max_ms": max(runs), "runs": len(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)

    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone
    from rest_framework.test import APIRequestFactory, force_authenticate

    from analytics.api.views.aggregates import AggregateListView
    from analytics.models import ConsumptionRollup
    from analytics.selectors.aggregates import consumption_aggregates
    from analytics.services.rollups import rollups_refresh
    from energyleaf.users.models import Household, User
    from sensors.models import Reading

    [(sensor_id, _mac)] = common.register_households(0, 1)
    user = User.objects.get(sensors__pk=sensor_id)
    Household.objects.filter(user=user).update(time_zone=ZONE)

    count = args.days * 86_400 // STEP_S
    end = START + timedelta(days=args.days)
    copy_s = copy_readings(sensor_id, count)
    common.log(f"{count:,} readings copied in {copy_s:.1f} s")

    started = time.perf_counter()
    build = rollups_refresh(now=end + timedelta(hours=1))
    build_s = time.perf_counter() - started
    buckets = ConsumptionRollup.objects.filter(sensor_id=sensor_id).count()
    common.log(f"rollups built in {build_s:.1f} s: {buckets:,} buckets")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE analytics_consumptionrollup")

    # Incremental: 5 more minutes of readings and one late reading into a bucket of March.
    now = timezone.now()
    last = Reading.objects.filter(sensor_id=sensor_id).order_by("-timestamp").first()
    assert last is not None
    fresh = [
        Reading(
            sensor_id=sensor_id,
            timestamp=end + timedelta(seconds=STEP_S * i),
            value=last.value + Decimal("0.001") * (i + 1),
            consumption=Decimal("0.001"),
            value_current=Decimal(240),
        )
        for i in range(20)
    ]
    fresh.append(
        Reading(
            sensor_id=sensor_id,
            timestamp=datetime(2024, 3, 5, 10, 0, 7, tzinfo=UTC),
            value=Decimal(1),
            consumption=Decimal("0.5"),
            value_current=Decimal(9000),
        )
    )
    Reading.objects.bulk_create(fresh)
    started = time.perf_counter()
    incremental = rollups_refresh(now=now + timedelta(seconds=5))
    incremental_ms = (time.perf_counter() - started) * 1000
    common.log(f"incremental refresh: {incremental.buckets} buckets in {incremental_ms:.0f} ms")

    figures: dict[str, dict[str, float]] = {}
    for resolution in ("day", "hour", "week", "month"):
        rows = consumption_aggregates(
            sensor_id=sensor_id, start=START, end=end, resolution=resolution, time_zone=ZONE
        )
        figures[f"selector {resolution} ({len(rows)} rows)"] = timed(
            lambda resolution=resolution: consumption_aggregates(
                sensor_id=sensor_id, start=START, end=end, resolution=resolution, time_zone=ZONE
            ),
            args.repeat,
        )

    factory = APIRequestFactory()
    view = AggregateListView.as_view()

    def api(resolution: str) -> None:
        request = factory.get(
            "/api/v1/aggregates",
            {"start": "2024-01-01", "end": "2024-12-31", "resolution": resolution},
        )
        force_authenticate(request, user=user)
        response = view(request)
        assert response.status_code == 200, response.data
        response.render()

    for resolution in ("day", "hour"):
        figures[f"API view {resolution} (in-process, JSON)"] = timed(
            lambda resolution=resolution: api(resolution), args.repeat
        )

    def bare_sum() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(consumption), sum(readings) FROM analytics_consumptionrollup "
                "WHERE sensor_id = %s AND bucket_start >= %s AND bucket_start < %s",
                [sensor_id, START, end],
            )
            cursor.fetchone()

    figures["ceiling: bare SQL sum over the rollups"] = timed(bare_sum, args.repeat)

    print()
    print(
        f"{count:,} readings ({args.days} days, 15 s) -> {buckets:,} rollups; "
        f"COPY {copy_s:.1f} s; first refresh (full build) {build_s:.1f} s; "
        f"incremental refresh {incremental_ms:.0f} ms ({incremental.buckets} buckets)"
    )
    common.print_table(
        ["query (whole range)", "median ms", "max ms", "vs 100 ms target"],
        [
            (
                name,
                f"{value['median_ms']:.1f}",
                f"{value['max_ms']:.1f}",
                "ok" if value["median_ms"] < TARGET_MS else "OVER",
            )
            for name, value in figures.items()
        ],
    )
    path = common.write_result(
        "aggregates",
        {
            "readings": count,
            "days": args.days,
            "rollups": buckets,
            "copy_s": copy_s,
            "build_s": build_s,
            "build_buckets": build.buckets,
            "incremental_ms": incremental_ms,
            "incremental_buckets": incremental.buckets,
            "figures": figures,
            "target_ms": TARGET_MS,
            "machine": common.machine_description(),
            "revision": common.git_revision(),
        },
    )
    common.log(f"wrote {path}")


if __name__ == "__main__":
    main()
