"""Benchmark of report building per household: figures, both charts and the rendered mail (no
transport), on a week of 15-s readings per household, against ceilings measured in the same run.

    python bench/reports.py [--households 400] [--generation-seconds 120]
        [--database-url postgres://postgres@127.0.0.1:5432/energyleaf_bench_reports]

Run it under the shared lock: `flock /tmp/bench.lock .venv/bin/python bench/reports.py`.

1. drops and creates its own PostgreSQL database, migrates, registers `--households` households
   (Europe/Berlin, self-reflection arm with a daily goal, working and base price, interval 7
   days) with one electricity sensor each, through the services;
2. writes a week of 15-s readings per sensor (40 320 rows each) with one INSERT ... SELECT over
   generate_series per block of 20 sensors, with a daily profile that differs per household,
   until `--generation-seconds` are used up; only households with readings are measured.
   10 000 households would be 403 million rows; the run measures as many households as it
   generates in the budget and extrapolates the total for 10 000;
3. one incremental rollup refresh over all of them (`rollups_refresh`, timed), as beat does
   every 5 minutes;
4. per household, timed separately: `report_generate` (figures, days and the report row, the
   mail task enqueued to the in-memory broker), `report_mail_render` (its queries, both charts,
   the HTML and text templates) and building the MIME message (`message().as_bytes()`); twice:
   with the day sums from the rollups (what production does once the refresh covers the
   period) and, after the reports are deleted and the rollups marked as behind, from the raw
   readings (the fallback; see reports/services/reports.py);
5. ceilings, same run: the bare SQL of the day sums of one household, from the rollups and from
   the readings, and the bare render of both charts with the same inputs.

Target (docs/design.md, "Performance targets"): under 50 ms per household with charts, mail
transport excluded.
Writes bench/results/reports-<time>.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/energyleaf_bench_reports"
ZONE = "Europe/Berlin"
FIRST_INSTANT = datetime(2024, 6, 4, 22, tzinfo=UTC)  # 5.6.2024 00:00 in Berlin (CEST)
DAYS = 7
NOW = datetime(2024, 6, 12, 5, tzinfo=UTC)  # 07:00 in Berlin: the report covers 5.-11.6.
TARGET_MS = 50.0
READINGS_PER_SENSOR = DAYS * 86_400 // 15
BLOCK = 20  # sensors per INSERT ... SELECT

INSERT_SQL = """
INSERT INTO sensors_reading (sensor_id, timestamp, value, consumption, flags, received_at)
SELECT s.id,
       g.ts,
       1000 + g.n * 0.002,
       -- W * 15 s in kWh: base load + evening peak, scaled per household (id modulo 7)
       round(((250 + 1500 * exp(-power(extract(hour FROM g.ts AT TIME ZONE 'Europe/Berlin')
                                      + extract(minute FROM g.ts) / 60.0 - 19, 2) / 4.0))
              * (0.7 + (s.id %% 7) * 0.1) * 15 / 3600000.0)::numeric, 6),
       0,
       g.ts + interval '1 second'
FROM unnest(%s::bigint[]) AS s(id)
CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz, interval '15 seconds')
     WITH ORDINALITY AS g(ts, n)
"""

DAY_SUMS_SQL = """
SELECT date_trunc('day', timestamp AT TIME ZONE %s) AS day, sum(consumption), count(*)
FROM sensors_reading
WHERE sensor_id = %s AND timestamp >= %s AND timestamp < %s
GROUP BY 1 ORDER BY 1
"""


ROLLUP_DAY_SUMS_SQL = """
SELECT (bucket_start AT TIME ZONE %s)::date AS day, sum(consumption)
FROM analytics_consumptionrollup
WHERE sensor_id = %s AND bucket_start >= %s AND bucket_start < %s
GROUP BY 1 ORDER BY 1
"""


def summary(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "p50_ms": round(common.percentile(ordered, 0.50), 2),
        "p95_ms": round(common.percentile(ordered, 0.95), 2),
        "mean_ms": round(statistics.fmean(ordered), 2) if ordered else 0.0,
        "max_ms": round(max(ordered), 2) if ordered else 0.0,
    }


def generate_readings(sensor_ids: list[int], budget_s: float) -> tuple[list[int], float]:
    """Readings for blocks of sensors until `budget_s` seconds are used up; the sensors that got
    their week, and the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    last = FIRST_INSTANT + timedelta(days=DAYS) - timedelta(seconds=15)
    done: list[int] = []
    with connection.cursor() as cursor:
        for first in range(0, len(sensor_ids), BLOCK):
            if done and time.perf_counter() - started >= budget_s:
                break
            block = sensor_ids[first : first + BLOCK]
            cursor.execute(INSERT_SQL, [block, FIRST_INSTANT, last])
            done.extend(block)
            common.log(
                f"readings of {len(done)} households "
                f"({len(done) * READINGS_PER_SENSOR:,} rows, {time.perf_counter() - started:.0f} s)"
            )
        cursor.execute("ANALYZE sensors_reading")
    return done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--households", type=int, default=400, help="registered; measured: those with readings"
    )
    parser.add_argument(
        "--generation-seconds",
        type=float,
        default=120.0,
        help="stop generating readings after this long (whole blocks of 20 households)",
    )
    args = parser.parse_args()

    common.reset_database(args.database_url)
    common.django_setup(args.database_url)

    from decimal import Decimal

    from django.db import connection

    from energyleaf.users.models import Household, User
    from reports.compute.charts import consumption_chart_render, cost_chart_render
    from reports.models import Report
    from reports.services.report_mails import (
        report_chart_days,
        report_mail_message,
        report_mail_render,
    )
    from reports.services.reports import report_generate, report_settings_update

    started = time.perf_counter()
    sensors = common.register_households(0, args.households)
    sensor_ids = [sensor_id for sensor_id, _ in sensors]
    users = dict(User.objects.filter(sensors__pk__in=sensor_ids).values_list("sensors__pk", "pk"))
    Household.objects.filter(user_id__in=users.values()).update(
        time_zone=ZONE,
        language="de",
        working_price_per_kwh=Decimal("0.3200"),
        base_price_per_month=Decimal("12.40"),
        daily_consumption_goal_kwh=Decimal("4.500"),
        app_version=Household.AppVersion.SELF_REFLECTION,
    )
    for user_id in users.values():
        report_settings_update(user_id=user_id, interval_days=DAYS)
    common.log(f"{args.households} households registered in {time.perf_counter() - started:.1f} s")
    sensor_ids, generation_s = generate_readings(sensor_ids, args.generation_seconds)
    households = len(sensor_ids)
    rows = households * READINGS_PER_SENSOR
    common.log(f"{rows:,} readings in {generation_s:.1f} s ({rows / generation_s:,.0f} rows/s)")

    from analytics.models import ROLLUP_STATE_NAME, RollupState
    from analytics.services.rollups import rollups_refresh

    t0 = time.perf_counter()
    refreshed = rollups_refresh()
    refresh_s = time.perf_counter() - t0
    common.log(f"rollups refresh: {refreshed.buckets:,} buckets in {refresh_s:.1f} s")
    covered = RollupState.objects.get(name=ROLLUP_STATE_NAME).covers_until

    def measure(source: str) -> dict[str, Any]:
        # Warm-up outside the measurement: imports, templates, fonts, first query plans.
        warm = report_generate(user_id=users[sensor_ids[0]], now=NOW)
        report_mail_message(rendered=report_mail_render(report=warm)).message().as_bytes()
        Report.objects.all().delete()
        figures_ms: list[float] = []
        mail_ms: list[float] = []
        mime_ms: list[float] = []
        total_ms: list[float] = []
        mail_bytes: list[int] = []
        started = time.perf_counter()
        for sensor_id in sensor_ids:
            t0 = time.perf_counter()
            report = report_generate(user_id=users[sensor_id], now=NOW)
            t1 = time.perf_counter()
            rendered = report_mail_render(report=report)
            t2 = time.perf_counter()
            raw = report_mail_message(rendered=rendered).message().as_bytes()
            t3 = time.perf_counter()
            figures_ms.append((t1 - t0) * 1000)
            mail_ms.append((t2 - t1) * 1000)
            mime_ms.append((t3 - t2) * 1000)
            total_ms.append((t3 - t0) * 1000)
            mail_bytes.append(len(raw))
        run_s = time.perf_counter() - started
        figures = list(
            Report.objects.filter(status=Report.Status.OK)
            .order_by("user_id")
            .values_list("user_id", "total_consumption_kwh", "total_cost_eur")
        )
        common.log(f"{source}: {len(figures)} reports in {run_s:.1f} s")
        return {
            "source": source,
            "run_s": round(run_s, 2),
            "reports_ok": len(figures),
            "figures": figures,
            "total_ms": total_ms,
            "per_household": {
                "total": summary(total_ms),
                "figures_report_generate": summary(figures_ms),
                "mail_render_with_charts": summary(mail_ms),
                "mime_message_bytes": summary(mime_ms),
            },
            "mail_size_bytes_median": int(statistics.median(mail_bytes)),
        }

    from_rollups = measure("rollups")
    RollupState.objects.filter(name=ROLLUP_STATE_NAME).update(covers_until=None)
    from_readings = measure("readings")
    RollupState.objects.filter(name=ROLLUP_STATE_NAME).update(covers_until=covered)
    same_figures = from_rollups.pop("figures") == from_readings.pop("figures")
    assert same_figures, "rollups and readings gave different report figures"

    # Ceilings: the bare day-sum queries and the bare chart renders, same households and inputs.
    period_end = FIRST_INSTANT + timedelta(days=DAYS)
    sql_ms: list[float] = []
    rollup_ms: list[float] = []
    with connection.cursor() as cursor:
        for sensor_id in sensor_ids:
            t0 = time.perf_counter()
            cursor.execute(DAY_SUMS_SQL, [ZONE, sensor_id, FIRST_INSTANT, period_end])
            day_rows = cursor.fetchall()
            sql_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            cursor.execute(ROLLUP_DAY_SUMS_SQL, [ZONE, sensor_id, FIRST_INSTANT, period_end])
            rollup_rows = cursor.fetchall()
            rollup_ms.append((time.perf_counter() - t0) * 1000)
    assert len(day_rows) == DAYS, day_rows
    assert [row[1] for row in rollup_rows] == [row[1] for row in day_rows]
    chart_ms: list[float] = []
    sample = Report.objects.filter(status=Report.Status.OK).order_by("pk")[:50]
    for report in sample:
        days = report_chart_days(days=report.days.all())
        t0 = time.perf_counter()
        consumption_chart_render(days=days, language="de")
        cost_chart_render(days=days, language="de")
        chart_ms.append((time.perf_counter() - t0) * 1000)

    sql = summary(sql_ms)
    rollup_sql = summary(rollup_ms)
    charts = summary(chart_ms)
    total = from_rollups["per_household"]["total"]
    fallback = from_readings["per_household"]["total"]
    ceiling_p50 = rollup_sql["p50_ms"] + charts["p50_ms"]
    fallback_ceiling_p50 = sql["p50_ms"] + charts["p50_ms"]
    per_household_s = statistics.fmean(from_rollups.pop("total_ms")) / 1000
    from_readings.pop("total_ms")
    result: dict[str, Any] = {
        "benchmark": "reports",
        "revision": common.git_revision(),
        "machine": common.machine_description(),
        "households_registered": args.households,
        "households": households,
        "readings_per_household": READINGS_PER_SENSOR,
        "readings": rows,
        "generation_s": round(generation_s, 1),
        "rollups_refresh_s": round(refresh_s, 1),
        "rollup_buckets": refreshed.buckets,
        "from_rollups": from_rollups,
        "from_readings_fallback": from_readings,
        "same_figures_from_both": same_figures,
        "ceilings": {
            "bare_day_sums_sql_rollups": rollup_sql,
            "bare_day_sums_sql_readings": sql,
            "bare_two_charts": charts,
        },
        "ratio_total_p50_to_ceiling_p50": round(total["p50_ms"] / ceiling_p50, 2),
        "ratio_fallback_p50_to_its_ceiling_p50": round(
            fallback["p50_ms"] / fallback_ceiling_p50, 2
        ),
        "extrapolated_10000_households_one_process_s": round(per_household_s * 10_000, 1),
        "target_ms": TARGET_MS,
        "target_met_p50": total["p50_ms"] < TARGET_MS,
        "target_met_p95": total["p95_ms"] < TARGET_MS,
        "fallback_target_met_p50": fallback["p50_ms"] < TARGET_MS,
    }
    rows_out = []
    for label, measured in (("rollups", from_rollups), ("readings", from_readings)):
        per = measured["per_household"]
        rows_out += [
            [f"{label}: total (figures + charts + mail)", per["total"]],
            [f"{label}: report_generate (figures)", per["figures_report_generate"]],
            [f"{label}: report_mail_render (charts + templates)", per["mail_render_with_charts"]],
            [f"{label}: MIME message as bytes", per["mime_message_bytes"]],
        ]
    rows_out += [
        ["ceiling: bare day-sums SQL, rollups", rollup_sql],
        ["ceiling: bare day-sums SQL, readings", sql],
        ["ceiling: bare render of both charts", charts],
    ]
    print()
    common.print_table(
        ["per household", "p50 ms", "p95 ms", "mean ms", "max ms"],
        [[name, v["p50_ms"], v["p95_ms"], v["mean_ms"], v["max_ms"]] for name, v in rows_out],
    )
    print()
    print(
        f"{households} households x {READINGS_PER_SENSOR:,} readings; rollups refresh "
        f"{refresh_s:.1f} s. From rollups: p50 {total['p50_ms']} ms per household against a "
        f"ceiling of {ceiling_p50:.2f} ms (ratio {result['ratio_total_p50_to_ceiling_p50']}); "
        f"target {TARGET_MS:.0f} ms: {'met' if result['target_met_p50'] else 'missed'} at p50, "
        f"{'met' if result['target_met_p95'] else 'missed'} at p95. Fallback from readings: p50 "
        f"{fallback['p50_ms']} ms (ceiling {fallback_ceiling_p50:.2f} ms). Same figures: "
        f"{same_figures}."
    )
    print(
        f"extrapolated to 10 000 households in one process: "
        f"{result['extrapolated_10000_households_one_process_s']:.0f} s"
    )
    path = common.write_result("reports", result)
    common.log(f"result written to {path}")


if __name__ == "__main__":
    main()
