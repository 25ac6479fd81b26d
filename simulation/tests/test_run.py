"""Tests of `simulation.run`: a fleet of clients in threads against the fake server."""

from __future__ import annotations

import json
import threading
import time

import pytest

from simulation.clocks import ScaledClock
from simulation.config import SimulatorConfig
from simulation.protocol import SIMULATOR_SCRIPT
from simulation.run import Simulation

START = 1_720_000_000.0  # 2024-07-03T09:46:40Z


@pytest.mark.parametrize("style", ["tasmota", "pi", "pi-batch"])
def test_simulation_counters_add_up_and_match_the_server(server, style):
    server.state.script = SIMULATOR_SCRIPT
    server.state.fail_500 = 4
    config = SimulatorConfig(
        base_url=server.url,
        style=style,
        count=3,
        interval_s=10,
        duration_s=150,
        resync_interval_s=60,
        live_timestamps=True,
        seed=5,
    )
    summary = Simulation(config, clock=ScaledClock(speed=200, start=START)).run()
    counters = summary.counters[style]
    assert summary.inconsistencies() == []
    assert counters.clients == 3
    assert counters.client_errors == 0
    assert counters.readings >= 3 * 12
    assert counters.failed >= 4
    stored_keys = set(server.state.stored)
    assert summary.accepted_keys(include_duplicates=True) <= stored_keys
    maybe = {(r.client_id, r.time_ns) for r in summary.maybe_stored}
    assert stored_keys <= summary.accepted_keys(include_duplicates=True) | maybe
    if style == "tasmota":
        assert counters.lost_by_client == counters.failed
        assert counters.scripts_confirmed == 3
    else:
        assert counters.buffered == 4
        assert counters.resent_accepted + counters.pending == 4
    text = summary.format_text()
    assert "Counters add up." in text
    data = json.loads(summary.to_json())
    assert data["counters"][style]["sent"] == counters.sent
    assert data["consistent"] is True


def test_simulation_stops_promptly_on_request(server):
    config = SimulatorConfig(base_url=server.url, style="pi", count=5, interval_s=15)
    simulation = Simulation(config)
    threading.Timer(0.3, simulation.stop).start()
    began = time.monotonic()
    summary = simulation.run()
    assert time.monotonic() - began < 3
    assert summary.counters["pi"].clients == 5
    assert summary.inconsistencies() == []
