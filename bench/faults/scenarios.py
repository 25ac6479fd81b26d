"""The five fault scenarios. Each returns a `ScenarioResult` (one row of the table + details).

The runner process is a Django process on the suite's database (production settings): it
registers sensors with the services, drives the simulator in threads, injects the faults and
reads the database back. Connections are closed after every use, so a PostgreSQL restart never
leaves this process with a dead connection.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sensors.protobuf.mapping import (
    BatchData,
    BatchReadingData,
    InvalidPayload,
    ReadingData,
    TokenRequestData,
    decode_batch_response,
    decode_status_response,
    decode_token_response,
    encode_batch,
    encode_sensor_input,
    encode_token_request,
)
from simulation.config import SimulatorConfig, client_id_for
from simulation.protocol import BATCH_PATH, SENSOR_INPUT_PATH, TOKEN_PATH
from simulation.run import Simulation
from simulation.summary import SimulationSummary

from .accounting import Accounting, account, stored_keys
from .infra import HOST, Stack, log, wait_for

PREFIX = "5C:CF:7F:0F"
"""MAC prefix of every sensor of the suite; scenario k uses indices from k * 1000 + 1."""


def register_simulated_sensors(*, sensors: list[tuple[int, str]]) -> Any:
    """The demo's registration service, imported once Django is set up (the runner imports this
    module before `django.setup()`)."""
    from energyleaf.demo.services import register_simulated_sensors as register

    return register(sensors=sensors)


@dataclass(frozen=True)
class Profile:
    """Sizes and times of one run (`--quick` or full)."""

    name: str
    tasmota: int
    pi: int
    pi_batch: int
    interval_s: float
    resync_s: float
    load_s: float
    redis_run_s: float
    redis_outage_s: float
    pg_run_s: float
    pg_outage_s: float
    kill_sensors: int
    batch_size: int


QUICK = Profile("quick", 50, 2, 2, 1.0, 3.0, 20, 40, 10, 36, 6, 4, 10_000)
FULL = Profile("full", 50, 3, 3, 1.0, 3.0, 120, 120, 40, 120, 20, 10, 10_000)


@dataclass
class ScenarioResult:
    scenario: str
    load: str
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: float | None = None
    failures: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "load": self.load,
            "sent": self.sent,
            "accepted": self.accepted,
            "refused": self.refused,
            "stored": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "recovery_s": self.recovery_s,
            "result": "PASS" if self.passed else "FAIL",
            "failures": self.failures,
            "findings": self.findings,
            "details": self.details,
        }


# --- load ----------------------------------------------------------------------------------------


class Load:
    """Tasmota, Pi and Pi-batch simulations at once, each reading sent with its own time."""

    def __init__(self, stack: Stack, profile: Profile, block: int, seed: int) -> None:
        self.simulations: list[Simulation] = []
        first = block * 1000 + 1
        for style, count in (
            ("tasmota", profile.tasmota),
            ("pi", profile.pi),
            ("pi-batch", profile.pi_batch),
        ):
            if not count:
                continue
            config = SimulatorConfig(
                base_url=stack.url,
                style=style,  # type: ignore[arg-type]
                count=count,
                interval_s=profile.interval_s,
                client_id_prefix=PREFIX,
                first_index=first,
                seed=seed,
                resync_interval_s=profile.resync_s,
                live_timestamps=True,
                timeout_s=10.0,
                startup_spread_s=min(profile.interval_s, 2.0),
            )
            self.simulations.append(Simulation(config))
            first += count
        self.description = (
            f"{profile.tasmota} tasmota + {profile.pi} pi + {profile.pi_batch} pi-batch, "
            f"every {profile.interval_s:g} s"
        )

    @property
    def sensors(self) -> list[tuple[int, str]]:
        return [sensor for sim in self.simulations for sensor in sim.config.sensors()]

    @property
    def client_ids(self) -> list[str]:
        return [client_id for _, client_id in self.sensors]

    def register(self) -> None:
        from django.db import connection

        result = register_simulated_sensors(sensors=self.sensors)
        connection.close()
        if result.failed:
            raise RuntimeError(f"registration failed: {result.failed}")

    def start(self) -> None:
        for sim in self.simulations:
            sim.start()

    def stop(self) -> list[SimulationSummary]:
        for sim in self.simulations:
            sim.stop()
        for sim in self.simulations:
            sim.join()
        return [sim.summary() for sim in self.simulations]


def _fill_from_accounting(
    result: ScenarioResult, acc: Accounting, in_flight_at_crash: int = 0
) -> None:
    """Counts and the checks every load scenario shares. `in_flight_at_crash`: when the
    database is killed, a commit can reach its log just before the kill while the answer that
    would confirm it cannot be sent; the client is told 5xx for a reading that is stored (an
    ambiguous commit: not lost, and a re-send with the reading's time is answered `Duplicate`).
    Up to this many such rows (one request in flight per client) are a finding instead of a
    failure."""
    result.sent = acc.total("sent")
    result.accepted = acc.total("accepted")
    result.refused = acc.total("refused")
    result.stored = acc.stored
    result.lost = acc.lost
    result.duplicated = acc.duplicated
    result.details["accounting"] = acc.to_dict()
    result.check(not acc.inconsistencies, f"simulator counters inconsistent: {acc.inconsistencies}")
    result.check(acc.lost == 0, f"{acc.lost} readings answered 2xx are not stored")
    result.check(acc.duplicated == 0, f"{acc.duplicated} readings stored twice")
    result.check(
        acc.unexplained <= in_flight_at_crash,
        f"{acc.unexplained} stored readings were answered non-2xx",
    )
    if acc.unexplained:
        result.findings.append(
            f"{acc.unexplained} reading(s) stored although answered 5xx: commits that reached"
            " PostgreSQL as it was killed, whose answers could not confirm them (ambiguous"
            " commits; not lost: a Pi client's re-send carries the reading's time and is"
            " answered Duplicate, and Tasmota does not re-send)"
        )
    result.check(acc.refused_without_reason == 0, "refused readings without a reason")
    result.check(acc.total("client_errors") == 0, "simulated clients crashed")


def _retrying_styles_complete(result: ScenarioResult, acc: Accounting) -> None:
    """Pi clients buffer and re-send: every reading they took must end up accepted."""
    for style in ("pi", "pi-batch"):
        c = acc.counters.get(style)
        if c is None:
            continue
        result.check(
            c.lost_by_client == 0 and c.pending == 0,
            f"{style}: {c.lost_by_client} readings dropped and {c.pending} still buffered",
        )
        result.check(
            c.readings == c.accepted + c.duplicates + c.refused,
            f"{style}: {c.readings} readings but {c.accepted + c.duplicates + c.refused} settled",
        )


def scenario_load(stack: Stack, profile: Profile) -> ScenarioResult:
    load = Load(stack, profile, block=1, seed=1)
    result = ScenarioResult("load", f"{load.description}, {profile.load_s:g} s")
    load.register()
    load.start()
    time.sleep(profile.load_s)
    summaries = load.stop()
    acc = account(summaries, load.client_ids)
    _fill_from_accounting(result, acc)
    result.check(
        acc.total("failed") == 0, f"failures without a fault: {acc.reasons('failure_reasons')}"
    )
    result.check(result.accepted > 0, "nothing accepted")
    result.details["readings_per_s"] = round(acc.total("sent") / profile.load_s, 1)
    return result


# --- redis down ----------------------------------------------------------------------------------


def _periodic_task(name: str, task: str, every_s: int, kwargs: dict[str, Any]) -> None:
    from django.db import connection
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    schedule, _ = IntervalSchedule.objects.get_or_create(every=every_s, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": task,
            "interval": schedule,
            "kwargs": json.dumps(kwargs),
            "enabled": True,
        },
    )
    connection.close()


def _disable_periodic_tasks(prefix: str) -> None:
    from django.db import connection
    from django_celery_beat.models import PeriodicTask

    for task in PeriodicTask.objects.filter(name__startswith=prefix):
        task.enabled = False
        task.save()
    connection.close()


def _audit_times(title: str, since: datetime) -> list[datetime]:
    from django.db import connection

    from energyleaf.audit.models import AuditEvent

    times = list(
        AuditEvent.objects.filter(title=title, timestamp__gte=since)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
    )
    connection.close()
    return times


class HeartbeatWatch:
    """The heartbeat keeps one state row (its last tick and a tick counter), not a log: a thread
    reads it every 0.2 s and notes each new tick at the time the row shows (several ticks run in
    one sample, as after an outage, are counted by the counter), so the scenario can count ticks
    per period."""

    def __init__(self) -> None:
        self.ticks: list[datetime] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat-watch", daemon=True)

    def _run(self) -> None:
        from django.db import connection

        from energyleaf.audit.models import Heartbeat

        # None until the first sample; 0 when the row did not exist yet (its first tick counts).
        seen: int | None = None
        try:
            while not self._stop.is_set():
                try:
                    row = Heartbeat.objects.filter(name="celery").values_list("last_at", "beats")
                    sample = row.first()
                    if sample is None and seen is None:
                        seen = 0
                except Exception:  # the database may be restarting; sample again
                    connection.close()
                    sample = None
                if sample is not None:
                    last, beats = sample
                    if seen is not None and beats > seen:
                        self.ticks.extend([last] * (beats - seen))
                    seen = beats
                self._stop.wait(0.2)
        finally:
            connection.close()

    def start(self) -> HeartbeatWatch:
        self._thread.start()
        return self

    def since(self, moment: datetime) -> list[datetime]:
        return [tick for tick in self.ticks if tick >= moment]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def scenario_redis_down(stack: Stack, profile: Profile) -> ScenarioResult:
    heartbeat_s, fanout_s = 2, 10
    load = Load(stack, profile, block=2, seed=2)
    result = ScenarioResult(
        "redis_down",
        f"{load.description}, {profile.redis_run_s:g} s, Redis down {profile.redis_outage_s:g} s",
    )
    load.register()
    _periodic_task("faults-heartbeat", "audit.heartbeat", heartbeat_s, {})
    _periodic_task(
        "faults-fanout", "analytics.detect_sequences_fanout", fanout_s, {"kinds": ["peak"]}
    )
    begin = datetime.now(UTC)
    heartbeats = HeartbeatWatch().start()
    load.start()
    lead = (profile.redis_run_s - profile.redis_outage_s) / 3
    time.sleep(lead)
    down_at = datetime.now(UTC)
    stack.redis.stop()
    log(f"Redis stopped for {profile.redis_outage_s:g} s")
    time.sleep(profile.redis_outage_s)
    stack.redis.start()
    up_at = datetime.now(UTC)
    up_mono = time.monotonic()
    log("Redis started again")
    heartbeat_back: float | None = None
    while time.monotonic() - up_mono < profile.redis_run_s - lead - profile.redis_outage_s:
        if heartbeat_back is None and heartbeats.since(up_at):
            heartbeat_back = time.monotonic() - up_mono
        time.sleep(0.5)
    summaries = load.stop()
    if heartbeat_back is None:
        wait_for(lambda: bool(heartbeats.since(up_at)), 60, "a heartbeat")
        heartbeat_back = time.monotonic() - up_mono
    end = datetime.now(UTC)
    _disable_periodic_tasks("faults-")

    acc = account(summaries, load.client_ids)
    _fill_from_accounting(result, acc)
    result.check(
        acc.total("failed") == 0,
        f"ingestion failed while Redis was down: {acc.reasons('failure_reasons')}",
    )
    result.recovery_s = round(heartbeat_back, 1)

    def between(times: list[datetime], a: datetime, b: datetime) -> int:
        return sum(1 for t in times if a <= t < b)

    heartbeats.stop()
    beats = heartbeats.since(begin)
    fanouts = _audit_times("analytics/detection-fanout", begin)
    rows_during = _rows_received_between(load.client_ids, down_at, up_at)
    outage = (up_at - down_at).total_seconds()
    after = (end - up_at).total_seconds()
    burst_window = up_at + timedelta(seconds=heartbeat_back + 3)
    celery = {
        "outage_s": round(outage, 1),
        "readings_stored_during_outage": rows_during,
        "heartbeat_every_s": heartbeat_s,
        "heartbeat_ticks_due_during_outage": int(outage // heartbeat_s),
        "heartbeats_run_during_outage": between(beats, down_at, up_at),
        "heartbeats_run_in_first_3_s_after_return": between(beats, up_at, burst_window),
        "heartbeats_run_after": between(beats, up_at, end),
        "heartbeat_ticks_due_after": int(after // heartbeat_s),
        "fanout_every_s": fanout_s,
        "fanout_ticks_due_during_outage": int(outage // fanout_s),
        "fanouts_run_during_outage": between(fanouts, down_at, up_at),
        "fanouts_run_after": between(fanouts, up_at, end),
        "worker_alive": stack.services["worker"].alive(),
        "beat_alive": stack.services["beat"].alive(),
        "first_heartbeat_after_return_s": round(heartbeat_back, 1),
    }
    result.details["celery"] = celery
    result.check(rows_during > 0, "no reading was stored while Redis was down")
    result.check(bool(celery["worker_alive"] and celery["beat_alive"]), "worker or beat died")
    result.check(celery["heartbeats_run_after"] > 0, "scheduled work did not resume")
    missed = celery["heartbeat_ticks_due_during_outage"] - celery["heartbeats_run_during_outage"]
    replayed = celery["heartbeats_run_after"] - celery["heartbeat_ticks_due_after"]
    celery["heartbeats_replayed"] = max(0, replayed)
    failed_fanouts = _log_count(
        stack.services["worker"].logfile,
        "analytics.detect_sequences_fanout",
        "raised unexpected: OperationalError",
    )
    celery["fanouts_failed_on_broker_error"] = failed_fanouts
    if failed_fanouts:
        result.findings.append(
            f"{failed_fanouts} detection fan-out run(s) failed half-way when the broker went"
            " away; the task retries on kombu's OperationalError, and a failed run records no"
            " 'analytics/detection-fanout' event, so the next scheduled run sends its windows"
            " again (re-sent windows change nothing)."
        )
    if missed > 0 and replayed < missed:
        result.findings.append(
            f"Beat does not replay missed ticks: {missed} heartbeat ticks (every {heartbeat_s} s)"
            f" and {celery['fanout_ticks_due_during_outage']} detection fan-out ticks fell in"
            f" the {outage:.0f} s Redis outage; beat sent none of them later (it logs the send"
            " error and moves on). Harmless for heartbeats (liveness only). The detection"
            " fan-out catches up by itself: a scheduled run enqueues every half hour since the"
            " last scheduled run that got through (detection_windows_due, audit"
            " 'analytics/detection-fanout', at most ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS);"
            " reports.generate_due_reports and refresh_rollups look at what is due/new on"
            " their next run."
        )
    return result


def _log_count(path: Path, *needles: str) -> int:
    """Lines of a log file that contain every needle."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if all(n in line for n in needles))


def _rows_received_between(client_ids: list[str], start: datetime, end: datetime) -> int:
    from django.db import connection

    from sensors.models import Reading

    count = Reading.objects.filter(
        sensor__client_id__in=[c.upper() for c in client_ids],
        received_at__gte=start,
        received_at__lt=end,
    ).count()
    connection.close()
    return count


# --- PostgreSQL restart --------------------------------------------------------------------------


def _post(port: int, path: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _token(port: int, client_id: str) -> str:
    body = encode_token_request(TokenRequestData(client_id, 1, False), send_need_script=True)
    status, payload = _post(port, TOKEN_PATH, body)
    answer = decode_token_response(payload)
    if not 200 <= status <= 299 or not answer.access_token:
        raise RuntimeError(f"no token for {client_id}: HTTP {status} {answer.status_message}")
    return answer.access_token


@dataclass
class ProbeEvent:
    sent_at: float
    answered_at: float
    status: int
    time_ns: int


class Probe(threading.Thread):
    """One extra sensor posting a timestamped reading every `period` s on a fresh connection;
    records every answer with its (monotonic) time: the timeline of the outage."""

    def __init__(self, port: int, client_id: str, period: float = 0.1) -> None:
        super().__init__(daemon=True, name="faults-probe")
        self.port, self.client_id, self.period = port, client_id, period
        self.token = _token(port, client_id)
        self.events: list[ProbeEvent] = []
        self.halt = threading.Event()

    def run(self) -> None:
        value = 1000.0
        while not self.halt.is_set():
            value += 0.001
            time_ns = time.time_ns() // 1000 * 1000
            body = encode_sensor_input(
                ReadingData(
                    access_token=self.token,
                    sensor_type=1,
                    value=value,
                    value_current=300.0,
                    value_out=None,
                    timestamp_raw=time_ns,
                    wire_format="v2",
                )
            )
            sent = time.monotonic()
            try:
                status, payload = _post(self.port, SENSOR_INPUT_PATH, body)
                with_body = decode_status_response(payload).status
                if 200 <= status <= 299 and with_body:
                    status = with_body
            except (OSError, http.client.HTTPException, InvalidPayload):
                status = 0
            self.events.append(ProbeEvent(sent, time.monotonic(), status, time_ns))
            self.halt.wait(self.period)


def scenario_pg_restart(stack: Stack, profile: Profile) -> ScenarioResult:
    load = Load(stack, profile, block=3, seed=3)
    result = ScenarioResult(
        "pg_restart",
        f"{load.description}, {profile.pg_run_s:g} s, PostgreSQL killed for"
        f" {profile.pg_outage_s:g} s",
    )
    load.register()
    probe_id = client_id_for(PREFIX, 3999)
    probe_reg = register_simulated_sensors(sensors=[(3999, probe_id)])
    if probe_reg.failed:
        raise RuntimeError(f"probe registration failed: {probe_reg.failed}")
    from django.db import connection

    connection.close()
    gunicorn = stack.services["gunicorn"]
    master, workers = gunicorn.pid, sorted(gunicorn.children())
    probe = Probe(stack.web_port, probe_id)
    load.start()
    probe.start()
    lead = (profile.pg_run_s - profile.pg_outage_s) / 3
    time.sleep(lead)
    stop_begin = time.monotonic()
    # immediate: no checkpoint, crash recovery on start; what was committed must still be there
    stack.postgres.stop("immediate")
    down_at = time.monotonic()
    log(f"PostgreSQL killed ({down_at - stop_begin:.1f} s) for {profile.pg_outage_s:g} s")
    time.sleep(profile.pg_outage_s)
    start_at = time.monotonic()
    stack.postgres.start()
    back_at = time.monotonic()
    log(f"PostgreSQL started again ({back_at - down_at:.1f} s after the stop)")
    time.sleep(max(0.0, profile.pg_run_s - lead - (back_at - stop_begin)))
    probe.halt.set()
    probe.join(10)
    summaries = load.stop()

    acc = account(summaries, [*load.client_ids])
    _fill_from_accounting(result, acc, in_flight_at_crash=len(load.client_ids))
    _retrying_styles_complete(result, acc)

    # the probe's timeline: 2xx only for stored readings, 5xx while down, recovery time
    probe_rows = set(stored_keys([probe_id]))
    events = probe.events
    ok = [e for e in events if 200 <= e.status <= 299]
    bad = [e for e in events if not 200 <= e.status <= 299]
    ok_missing = [e for e in ok if (probe_id, e.time_ns) not in probe_rows]
    bad_stored = [e for e in bad if (probe_id, e.time_ns) in probe_rows]
    # down: from the moment `pg_ctl stop` returned to the moment `pg_ctl start` was called
    ok_while_down = [e for e in ok if e.sent_at >= down_at and e.answered_at <= start_at]
    statuses = Counter(e.status for e in bad)
    # back: PostgreSQL accepts connections somewhere between `pg_ctl start` being called and
    # returning (it polls); recovery is measured from the call, so it includes the start-up.
    first_ok_after = min((e.answered_at for e in ok if e.sent_at >= start_at), default=None)
    last_bad_after = max((e.answered_at for e in bad if e.sent_at >= start_at), default=None)
    recovery = None if first_ok_after is None else first_ok_after - start_at
    result.recovery_s = None if recovery is None else round(recovery, 2)
    result.details["probe"] = {
        "requests": len(events),
        "answered_2xx": len(ok),
        "answered_other": dict(sorted(statuses.items())),
        "answered_2xx_not_stored": len(ok_missing),
        "answered_non_2xx_but_stored": len(bad_stored),
        "answered_2xx_while_down": len(ok_while_down),
        "first_2xx_after_start_s": result.recovery_s,
        "last_non_2xx_after_start_s": (
            None if last_bad_after is None else round(last_bad_after - start_at, 2)
        ),
        "pg_ctl_stop_mode": "immediate",
        "pg_ctl_stop_took_s": round(down_at - stop_begin, 2),
        "pg_ctl_start_took_s": round(back_at - start_at, 2),
        "non_2xx_while_down": sum(
            1 for e in bad if e.sent_at >= down_at and e.answered_at <= start_at
        ),
    }
    gunicorn_after = sorted(gunicorn.children())
    result.details["gunicorn"] = {
        "master_alive": gunicorn.alive(),
        "workers_before": workers,
        "workers_after": gunicorn_after,
    }
    result.details["dropped_by_tasmota_clients"] = acc.counters["tasmota"].lost_by_client
    result.check(not ok_missing, f"probe: {len(ok_missing)} readings answered 2xx not stored")
    result.check(not ok_while_down, "probe: 2xx while PostgreSQL was down")
    # The outage shows as 5xx, or (the web workers' database pool waits up to
    # DJANGO_DB_POOL_TIMEOUT for a connection) as requests sent while it was down that were held
    # until PostgreSQL was back and then answered.
    held = [e for e in events if down_at <= e.sent_at <= start_at and e.answered_at > start_at]
    result.details["probe"]["held_across_the_outage"] = len(held)
    result.check(
        any(s >= 500 for s in statuses) or bool(held),
        "probe saw neither a 5xx nor a request held across the outage: was PostgreSQL down?",
    )
    result.check(
        all(s >= 500 or s == 0 for s in statuses),
        f"probe: non-2xx answers other than 5xx/connection errors: {dict(statuses)}",
    )
    result.check(recovery is not None, "no 2xx after PostgreSQL came back")
    result.check(gunicorn.alive() and master == gunicorn.pid, "gunicorn master restarted")
    if bad_stored:
        result.findings.append(
            f"{len(bad_stored)} probe readings were stored although the answer was not 2xx"
        )
    return result


# --- worker killed -------------------------------------------------------------------------------


def _synthetic_readings(sensor_id: int, *, start: datetime, end: datetime, loads: list[
        tuple[datetime, datetime]]) -> None:  # fmt: skip
    """Cumulative readings every 30 s: 200 W base (+-20 W) plus 2500 W during each load."""
    import random

    from django.db import connection

    from sensors.models import Reading

    rng = random.Random(sensor_id)
    rows: list[Reading] = []
    register = 1000.0
    moment = start
    step = timedelta(seconds=30)
    while moment <= end:
        watts = 200.0 + rng.uniform(-20.0, 20.0)
        if any(a < moment <= b for a, b in loads):
            watts += 2500.0
        energy = watts * 30 / 3.6e6 if moment > start else 0.0
        register += energy
        rows.append(
            Reading(
                sensor_id=sensor_id,
                timestamp=moment,
                value=Decimal(f"{register:.6f}"),
                consumption=Decimal(f"{energy:.6f}"),
            )
        )
        moment += step
    Reading.objects.bulk_create(rows, batch_size=2000)
    connection.close()


def _blocked_queries(database: str) -> list[str]:
    """Queries of other backends of the suite's database that wait for a lock."""
    from django.db import connection

    with connection.cursor() as cursor:
        # statistics views are a snapshot per transaction; the caller holds one open
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
            " AND pid <> pg_backend_pid()",
            [database],
        )
        return [str(row[0]) for row in cursor.fetchall()]


def _export_round(stack: Stack, database: str, user_ids: list[int]) -> dict[str, Any]:
    """exports.run_export_job held after its claim (the job is committed as running), the whole
    worker SIGKILLed, restarted: the job must finish once, with files matching its checksums;
    a second delivery of the same message must change nothing."""
    import hashlib

    from django.conf import settings
    from django.db import connection, transaction

    from energyleaf.users.models import Household
    from exports.models import ExportJob
    from exports.services.dataset import export_job_create, export_job_folder
    from exports.tasks import run_export_job_task

    problems: list[str] = []
    households = list(Household.objects.filter(user_id__in=user_ids))
    job = export_job_create(requested_by=None, households=households)  # queued on commit
    connection.close()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # the job counts its sequences right after claiming: it waits there, claimed
            cursor.execute('LOCK TABLE "analytics_sequence" IN ACCESS EXCLUSIVE MODE')
        worker = stack.start_worker(concurrency=2)
        wait_for(
            lambda: any("analytics_sequence" in q for q in _blocked_queries(database)),
            50,
            "the export task waiting after its claim",
        )
        held = ExportJob.objects.get(pk=job.pk)
        state_at_kill = {"status": held.status, "attempts": held.attempts}
        killed = worker.group()
        worker.kill_group()
        time.sleep(1.0)
    connection.close()
    restarted = time.monotonic()
    stack.start_worker(concurrency=2)

    def finished() -> bool:
        status = ExportJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
        connection.close()
        return status in (ExportJob.Status.SUCCEEDED, ExportJob.Status.FAILED)

    try:
        wait_for(finished, 90, "the export job to finish", 0.5)
    except RuntimeError as exc:
        problems.append(str(exc))
    took = time.monotonic() - restarted
    first = ExportJob.objects.get(pk=job.pk)
    run_export_job_task.delay(job.pk)  # a duplicate delivery
    _drain(stack)
    time.sleep(0.5)
    second = ExportJob.objects.get(pk=job.pk)
    folder = export_job_folder(first)
    files = sorted(path.name for path in folder.iterdir()) if folder.exists() else []
    on_disk = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in files
        if not name.startswith(".")
    }
    folders = sorted(p.name for p in Path(settings.EXPORTS_ROOT).glob(f"job-{job.pk}*"))
    connection.close()
    if state_at_kill != {"status": "running", "attempts": 1}:
        problems.append(f"job was not claimed when the worker was killed: {state_at_kill}")
    if first.status != ExportJob.Status.SUCCEEDED:
        problems.append(f"job ended {first.status}: {first.error}")
    if first.attempts != 2:
        problems.append(f"{first.attempts} attempts, want 2 (the killed one and the rerun)")
    if on_disk != first.checksums:
        problems.append(f"files {sorted(on_disk)} do not match the job's checksums")
    if len(files) != len(on_disk):
        problems.append(f"temporary files left: {files}")
    if first.rows_expected is not None and first.rows_written != first.rows_expected:
        problems.append(f"rows written {first.rows_written} != expected {first.rows_expected}")
    if (second.status, second.attempts, second.checksums, second.finished_at) != (
        first.status,
        first.attempts,
        first.checksums,
        first.finished_at,
    ):
        problems.append("a duplicate delivery changed the finished job")
    return {
        "job_id": job.pk,
        "state_at_kill": state_at_kill,
        "killed_pids": killed,
        "finished_after_restart_s": round(took, 1),
        "status": first.status,
        "attempts": first.attempts,
        "rows_written": first.rows_written,
        "files": files,
        "folders": folders,
        "problems": problems,
    }


def _in_flight(blocked: list[str], audit_table: str, report_table: str) -> bool:
    """A detection task waits at its audit INSERT and a report task at its report INSERT."""
    detection = any(
        q.startswith(f'INSERT INTO "{audit_table}"') and "analytics/detection" in q for q in blocked
    )
    report = any(q.startswith(f'INSERT INTO "{report_table}"') for q in blocked)
    return detection and report


def _drain(stack: Stack, timeout: float = 60.0) -> None:
    """Wait until the broker holds no queued and no unacknowledged message."""
    import redis

    client = redis.Redis.from_url(stack.redis.url)
    try:
        wait_for(
            lambda: client.llen("celery") == 0 and client.hlen("unacked") == 0,
            timeout,
            "the broker queue to drain",
        )
    finally:
        client.close()


@dataclass
class KillRound:
    name: str
    blocked: list[str]
    killed_pids: list[int]
    redelivered_after_s: float


def scenario_worker_killed(stack: Stack, profile: Profile) -> ScenarioResult:
    try:
        return _worker_killed(stack, profile)
    finally:
        if not stack.services["worker"].alive():
            stack.start_worker(concurrency=2)
        if not stack.services["beat"].alive():
            stack.start_beat()


def _worker_killed(stack: Stack, profile: Profile) -> ScenarioResult:
    from celery import current_app
    from django.db import connection, transaction

    from analytics.models import Sequence
    from analytics.tasks import detect_sequences_for_sensor_task
    from energyleaf.audit.models import AuditEvent
    from reports.models import Report, ReportSettings
    from reports.tasks import generate_report_task
    from sensors.models import Sensor

    count = profile.kill_sensors
    result = ScenarioResult(
        "worker_killed",
        f"2 x ({2 * count} detection + {count} report tasks), SIGKILL pool / whole worker"
        " + 1 export job",
    )
    stack.services["beat"].stop()  # nothing else queued while we count
    _drain(stack)
    stack.services["worker"].stop()
    sensors = [(4000 + i, client_id_for(PREFIX, 4000 + i)) for i in range(1, count + 1)]
    reg = register_simulated_sensors(sensors=sensors)
    if reg.failed:
        raise RuntimeError(f"registration failed: {reg.failed}")
    rows = list(
        Sensor.objects.filter(client_id__in=[c for _, c in sensors]).values_list("pk", "user_id")
    )
    sensor_ids = [pk for pk, _ in rows]
    user_ids = [user_id for _, user_id in rows]
    now = datetime.now(UTC)
    window_end = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
    window_end -= timedelta(hours=1)
    windows = [window_end - timedelta(minutes=60), window_end - timedelta(minutes=30)]
    for sensor_id in sensor_ids:
        _synthetic_readings(
            sensor_id,
            start=windows[0] - timedelta(hours=25),
            end=window_end,
            loads=[(w + timedelta(minutes=8), w + timedelta(minutes=18)) for w in windows],
        )
    exports_present = "exports.run_export_job" in current_app.tasks
    result.details["exports_run_export_job"] = (
        "held after its claim, whole worker SIGKILLed" if exports_present else "not present"
    )
    database = str(connection.settings_dict["NAME"])
    audit_table = AuditEvent._meta.db_table
    report_table = Report._meta.db_table
    connection.close()

    def enqueue(report_now: datetime) -> int:
        sent = 0
        for index, sensor_id in enumerate(sensor_ids):
            for window in windows:
                detect_sequences_for_sensor_task.delay(sensor_id, window.isoformat(), ["peak"])
                sent += 1
                if window == windows[0]:
                    generate_report_task.delay(user_ids[index], report_now.isoformat())
                    sent += 1
        return sent

    def detection_runs(since: datetime) -> Counter[tuple[int, str]]:
        events = AuditEvent.objects.filter(
            title="analytics/detection", sensor_id__in=sensor_ids, timestamp__gte=since
        ).values_list("sensor_id", "details")
        runs = Counter((int(sid or 0), str(details.get("window_start"))) for sid, details in events)
        connection.close()
        return runs

    def reports_done(report_now: datetime) -> int:
        done = ReportSettings.objects.filter(
            user_id__in=user_ids, last_report_at=report_now
        ).count()
        connection.close()
        return done

    def all_done(since: datetime, report_now: datetime) -> bool:
        runs = detection_runs(since)
        wanted = {(sid, w.isoformat()) for sid in sensor_ids for w in windows}
        return wanted <= set(runs) and reports_done(report_now) == len(user_ids)

    rounds: list[KillRound] = []
    sent_total = 0
    for name, report_now in (
        ("pool child SIGKILL", now),
        # a later period: its report is a new row, so this round's report task blocks as well
        ("whole worker SIGKILL", now + timedelta(days=30)),
    ):
        since = datetime.now(UTC)
        sent_total += enqueue(report_now)
        with transaction.atomic():
            # Tasks run up to their last INSERT and wait there, inside their transaction.
            with connection.cursor() as cursor:
                cursor.execute(f'LOCK TABLE "{audit_table}" IN SHARE MODE')
                cursor.execute(f'LOCK TABLE "{report_table}" IN SHARE MODE')
            worker = stack.start_worker(concurrency=2)
            wait_for(
                lambda: _in_flight(_blocked_queries(database), audit_table, report_table),
                50,  # below the tasks' 60 s soft time limit
                "a detection and a report task waiting inside their transactions",
            )
            blocked = _blocked_queries(database)
            if name.startswith("pool"):
                killed = worker.children()
                for pid in killed:
                    os.kill(pid, signal.SIGKILL)
            else:
                killed = worker.group()
                worker.kill_group()
            log(f"{name}: killed {killed} while {len(blocked)} tasks waited")
            time.sleep(1.0)
        connection.close()  # lock released: the killed tasks' transactions are rolled back
        restarted = time.monotonic()
        if not worker.alive():
            stack.start_worker(concurrency=2)
        try:
            wait_for(partial(all_done, since, report_now), 120, f"{name}: all tasks", 0.5)
        except RuntimeError as exc:
            result.failures.append(str(exc))
        rounds.append(KillRound(name, blocked, killed, time.monotonic() - restarted))
        _drain(stack)  # follow-up tasks (e.g. report mails) must not wait in the next round
        stack.services["worker"].stop()
    if exports_present:
        export = _export_round(stack, database, user_ids)
        result.details["export"] = export
        sent_total += 2
        result.check(not export["problems"], f"export: {export['problems']}")

    peaks = list(
        Sequence.objects.filter(sensor_id__in=sensor_ids, kind="peak").values_list(
            "sensor_id", "start", "end"
        )
    )
    reports = Counter(
        Report.objects.filter(user_id__in=user_ids).values_list(
            "user_id", "period_start", "period_end"
        )
    )
    connection.close()
    per_window = Counter(
        (sid, next((w for w in windows if w <= start < w + timedelta(minutes=30)), None))
        for sid, start, _ in peaks
    )
    expected_peaks: set[tuple[int, datetime | None]] = {
        (sid, w) for sid in sensor_ids for w in windows
    }
    result.sent = sent_total
    result.accepted = sent_total if not result.failures else 0
    result.stored = len(peaks) + sum(reports.values())
    result.lost = len(expected_peaks - set(per_window)) + (2 * len(user_ids) - len(reports))
    result.duplicated = (
        sum(n - 1 for n in per_window.values() if n > 1)
        + sum(n - 1 for n in reports.values() if n > 1)
        + len({(s, st) for s, st, _ in peaks})
        - len(peaks)
    )
    result.recovery_s = round(rounds[-1].redelivered_after_s, 1) if rounds else None
    result.details["rounds"] = [
        {
            "round": r.name,
            "blocked_queries": [q[:200] for q in r.blocked],
            "killed_pids": r.killed_pids,
            "all_results_after_s": round(r.redelivered_after_s, 1),
        }
        for r in rounds
    ]
    result.details["visibility_timeout_s"] = stack.visibility_timeout
    result.details["peaks"] = len(peaks)
    result.details["reports"] = sum(reports.values())
    result.check(result.lost == 0, f"{result.lost} results missing")
    result.check(result.duplicated == 0, f"{result.duplicated} results duplicated")
    result.check(
        len(peaks) == len(expected_peaks), f"{len(peaks)} peaks, want {len(expected_peaks)}"
    )
    for r in rounds:
        result.check(
            _in_flight(r.blocked, audit_table, report_table),
            f"{r.name}: not one detection and one report task in flight at the kill: {r.blocked}",
        )
    return result


# --- batch re-sent -------------------------------------------------------------------------------


def _batch_body(token: str, readings: list[tuple[int, float]]) -> bytes:
    return encode_batch(
        BatchData(
            access_token=token,
            sensor_type=1,
            readings=tuple(
                BatchReadingData(value=value, value_current=250.0, value_out=None,
                                 timestamp_raw=time_ns)
                for time_ns, value in readings
            ),
        )
    )  # fmt: skip


def scenario_batch_resend(stack: Stack, profile: Profile) -> ScenarioResult:
    size = profile.batch_size
    result = ScenarioResult(
        "batch_resend", f"{size} readings x3 sequential + x3 concurrent (2 sensors)"
    )
    sensors = [(5001, client_id_for(PREFIX, 5001)),
               (5002, client_id_for(PREFIX, 5002))]  # fmt: skip
    reg = register_simulated_sensors(sensors=sensors)
    if reg.failed:
        raise RuntimeError(f"registration failed: {reg.failed}")
    from django.db import connection

    connection.close()
    start_ns = (time.time_ns() - size * 1_000_000_000 - 60_000_000_000) // 1000 * 1000
    readings = [(start_ns + i * 1_000_000_000, 5000.0 + i * 0.001) for i in range(size)]
    answers: list[dict[str, Any]] = []

    def send(client_id: str, token: str) -> None:
        began = time.monotonic()
        status, payload = _post(
            stack.web_port, BATCH_PATH, _batch_body(token, readings), timeout=120
        )
        answer = decode_batch_response(payload)
        answers.append(
            {
                "client_id": client_id,
                "http": status,
                "accepted": answer.accepted,
                "duplicates": answer.duplicates,
                "rejected": answer.rejected,
                "seconds": round(time.monotonic() - began, 2),
            }
        )

    sequential, concurrent = sensors[0][1], sensors[1][1]
    token_a = _token(stack.web_port, sequential)
    for _ in range(3):
        send(sequential, token_a)
    token_b = _token(stack.web_port, concurrent)
    threads = [threading.Thread(target=send, args=(concurrent, token_b)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)

    wanted = {ns for ns, _ in readings}
    result.sent = 6 * size
    for client_id in (sequential, concurrent):
        mine = [a for a in answers if a["client_id"] == client_id]
        accepted = sum(int(a["accepted"]) for a in mine)
        duplicates = sum(int(a["duplicates"]) for a in mine)
        rows = Counter(ns for _, ns in stored_keys([client_id]))
        result.accepted += accepted
        result.refused += sum(int(a["rejected"]) for a in mine)
        result.stored += sum(rows.values())
        result.lost += len(wanted - rows.keys())
        result.duplicated += sum(n - 1 for n in rows.values() if n > 1) + max(0, accepted - size)
        result.check(len(mine) == 3 and all(a["http"] == 200 for a in mine), f"{client_id}: {mine}")
        result.check(accepted == size, f"{client_id}: accepted {accepted}, want {size}")
        result.check(duplicates == 2 * size, f"{client_id}: duplicates {duplicates}")
        result.check(set(rows) == wanted, f"{client_id}: stored set differs from the batch")
    result.check(result.lost == 0 and result.duplicated == 0, "lost or duplicated readings")
    result.details["answers"] = answers
    return result


SCENARIOS: dict[str, Callable[[Stack, Profile], ScenarioResult]] = {
    "load": scenario_load,
    "redis_down": scenario_redis_down,
    "pg_restart": scenario_pg_restart,
    "worker_killed": scenario_worker_killed,
    "batch_resend": scenario_batch_resend,
}
