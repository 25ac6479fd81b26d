#!/usr/bin/env python3
"""Take the back-office screenshots of docs/screenshots/ with headless Chromium (no Selenium).

    python docs/screenshots/take.py [--database-url URL] [--hours 336] [--port 8765]

Run it with the project's Python (the one with Django). It makes a fresh database (SQLite in a
temporary folder unless --database-url names a PostgreSQL database, which is dropped and created
again: its name must contain "shots"), runs `migrate` and `seed_demo` with two weeks of history,
and adds what the demo alone lacks for the pictures:

* the demo household labels its peaks truthfully: for each detected peak, the device category of
  the simulated appliance run that overlaps it most (from the same seeded simulation the demo
  stored), through the household's own service (`device_assign_to_peak`); so the classifier's
  reliability chart shows how the demo's classifier really does on the demo's peaks;
* four more sensors post a week of simulated readings through the ingestion service, each with
  its own outages (a Pi switched off for hours, flaky Wi-Fi), so the coverage heatmap has rows to
  compare.

Then it starts `runserver` on 127.0.0.1, logs the demo admin in (a session made by Django's test
client in the same database), and drives Chromium over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: JSON messages separated by NUL bytes on file descriptors 3 and 4),
so only the standard library is needed. Chromium: `apt-get install -y chromium`. Nothing here is
imported by the tests.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
WIDTH = 1280

# Runs inside `manage.py shell`: labels, extra sensors, rollups, a session; prints JSON.
PREPARE = r"""
import json
from datetime import UTC, timedelta

import numpy as np
from django.test import Client
from django.utils import timezone

from analytics.models import Device, DeviceSuggestion, Sequence
from analytics.services.devices import device_assign_to_peak
from analytics.services.rollups import rollups_refresh
from energyleaf.demo.services import (
    DEMO_ADMIN, DEMO_HOUSEHOLD, DEMO_SENSOR, DEMO_SIMULATION_SEED, register_simulated_sensors,
)
from energyleaf.users.models import User
from sensors import services as sensor_services
from sensors.models import Sensor
from sensors.selectors.readings import sensor_reading_span
from simulation.households import simulate_household, to_ns

now = timezone.now()
household = User.objects.get(email=DEMO_HOUSEHOLD)
sensor = Sensor.objects.get(client_id=DEMO_SENSOR)

# The household labels its peaks from the simulation the demo stored (same start, days, seed).
first, last = sensor_reading_span(sensor_id=sensor.pk)
begin = first - timedelta(seconds=20)
midnight = begin.replace(hour=0, minute=0, second=0, microsecond=0)
truth = simulate_household(midnight, (last - midnight).days + 1, DEMO_SIMULATION_SEED)
runs = [run for run in truth.runs if run.category]
devices = {}
labelled = 0
for peak in Sequence.objects.filter(sensor=sensor, kind=Sequence.Kind.PEAK).order_by("start"):
    best, overlap = None, timedelta()
    for run in runs:
        common = min(run.end, peak.end) - max(run.start, peak.start)
        if common > overlap:
            best, overlap = run, common
    if best is None:
        continue
    if best.category not in devices:
        devices[best.category] = Device.objects.create(
            user=household, name=best.category.replace("_", " ").title(), category=best.category
        )
    labelled += device_assign_to_peak(
        user=household, device_id=devices[best.category].pk, sequence_id=peak.pk
    )

# More sensors with a week of readings and their own outages (hours of the week without data).
OUTAGES = {1: [], 2: [(30, 52)], 3: [(100, 160)], 4: "flaky"}
week_start = (now - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
register_simulated_sensors(sensors=[(k, f"5C:CF:7F:00:01:{k:02X}") for k in OUTAGES])
rng = np.random.default_rng(7)
for index, outages in OUTAGES.items():
    extra = Sensor.objects.get(client_id=f"5C:CF:7F:00:01:{index:02X}")
    if sensor_reading_span(sensor_id=extra.pk) is not None:
        continue
    simulated = simulate_household(week_start, 8, 100 + index)
    stamps, registers = simulated.timestamps_ns, simulated.register_kwh
    keep = stamps <= to_ns(now)
    hours = (stamps - to_ns(week_start)) / 3.6e12
    if outages == "flaky":
        keep &= rng.random(stamps.size) > 0.25 * (1 + np.sin(hours / 9))
    else:
        for low, high in outages:
            keep &= (hours < low) | (hours >= high)
    token = sensor_services.sensor_token_issue(
        client_id=extra.client_id, need_script=False, now=now
    ).access_token
    for part in np.array_split(np.flatnonzero(keep), 8):
        sensor_services.sensor_readings_ingest(
            token=token,
            readings=[
                sensor_services.ReadingInput(value=float(registers[i]), timestamp=int(stamps[i]),
                                             wire_format="demo")
                for i in part.tolist()
            ],
            now=now,
        )
rollups_refresh()

client = Client()
client.force_login(User.objects.get(email=DEMO_ADMIN))
peak = (
    Sequence.objects.filter(sensor=sensor, kind=Sequence.Kind.PEAK, devices__isnull=False)
    .filter(suggestions__isnull=False)
    .order_by("-average_peak_power_w")
    .first()
)
print("SHOTS " + json.dumps({
    "session": client.cookies["sessionid"].value,
    "household": household.pk,
    "peak": peak.pk if peak else None,
    "labelled": labelled,
}))
"""


def log(message: str) -> None:
    print(f"[screenshots] {message}", flush=True)


def fresh_database(url: str | None, folder: Path) -> str:
    """The DATABASE_URL to use: a new SQLite file, or the PostgreSQL database dropped and made."""
    if url is None:
        return f"sqlite:///{folder / 'shots.sqlite3'}"
    base, _, name = url.rpartition("/")
    if "shots" not in name:
        raise SystemExit("the database name must contain 'shots' (it is dropped)")
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        # Chromium reads commands from fd 3 and writes answers to fd 4: the pipe ends are moved
        # to 10 and above first, so the redirections cannot overwrite one with the other (bash:
        # dash redirects one-digit descriptors only).
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        command = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self._process = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{read_end} 4>&{write_end}', *command],
            pass_fds=(read_end, write_end),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(read_end)
        os.close(write_end)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        wanted = self._send(method, params or {}, session)
        deadline = time.monotonic() + 60
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    def wait_event(self, method: str, session: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self._events[: index + 1]
                    return
            self._events.append(self._receive(deadline))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()


def shoot(
    chrome: Chromium,
    session: str,
    url: str,
    out: Path,
    *,
    height: int,
    scroll_to: str | None = None,
) -> None:
    """Load `url` at WIDTH x `height`, scroll `scroll_to` (a CSS selector) near the top, save a
    PNG of the viewport."""
    chrome.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    chrome.call("Page.navigate", {"url": url}, session)
    chrome.wait_event("Page.loadEventFired", session)
    if scroll_to:
        script = (
            f"(() => {{ const e = document.querySelector({json.dumps(scroll_to)});"
            " if (!e) return false; window.scrollTo(0, e.getBoundingClientRect().top"
            " + window.scrollY - 12); return true; })()"
        )
        found = chrome.call("Runtime.evaluate", {"expression": script}, session)
        if not found.get("result", {}).get("value"):
            where = chrome.call(
                "Runtime.evaluate", {"expression": "location.href + ' ' + document.title"}, session
            )
            raise RuntimeError(f"{scroll_to} not found on {where['result'].get('value')}")
    shot = chrome.call("Page.captureScreenshot", {"format": "png"}, session)
    out.write_bytes(base64.b64decode(shot["data"]))
    log(f"wrote {out.relative_to(ROOT)}")


def wait_for_server(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--hours", type=int, default=14 * 24, help="demo history (hours)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="energyleaf-shots-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
        "DJANGO_DEBUG": "1",
        # One key for the seeding and the server: the session made while seeding must be valid.
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": fresh_database(args.database_url, folder),
        "CELERY_BROKER_URL": "memory://",
        "ENERGYLEAF_VAR_DIR": str(folder),
    }
    log(f"database and files in {folder}")
    manage(env, "migrate", "--noinput", "-v", "0")
    log(f"seeding the demo with {args.hours} h of history (a few minutes)")
    manage(env, "seed_demo", "--hours", str(args.hours))
    output = manage(env, "shell", "-c", PREPARE)
    facts = json.loads(next(line[6:] for line in output.splitlines() if line.startswith("SHOTS ")))
    log(f"labelled peaks: {facts['labelled']}")

    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "runserver",
            "--noreload",
            f"127.0.0.1:{args.port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    chrome = Chromium(args.chromium, folder / "chromium")
    try:
        wait_for_server(f"{base}/admin/login/")
        target = chrome.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = chrome.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        chrome.call("Page.enable", session=session)
        chrome.call("Network.enable", session=session)
        chrome.call(
            "Network.setCookie",
            {"name": "sessionid", "value": facts["session"], "url": base, "httpOnly": True},
            session,
        )
        # The admin's navigation sidebar closed, so the pages have the width.
        chrome.call("Page.navigate", {"url": f"{base}/admin/login/"}, session)
        chrome.wait_event("Page.loadEventFired", session)
        chrome.call(
            "Runtime.evaluate",
            {"expression": "localStorage.setItem('django.admin.navSidebarIsOpen', 'false')"},
            session,
        )
        pages = [
            (
                f"/admin/users/user/{facts['household']}/change/",
                "admin-household-charts.png",
                820,
                ".consumption-charts",
            ),
            (
                f"/admin/analytics/sequence/{facts['peak']}/change/",
                "admin-peak-chart.png",
                640,
                ".field-power_chart",
            ),
            (
                "/admin/analytics/consumptionrollup/fleet-health/",
                "admin-fleet-health.png",
                760,
                None,
            ),
            (
                "/admin/analytics/devicesuggestion/evaluation/",
                "admin-classifier-reliability.png",
                900,
                "#suggestion-bands",
            ),
        ]
        for path, name, height, selector in pages:
            shoot(chrome, session, base + path, OUT / name, height=height, scroll_to=selector)
    finally:
        chrome.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
