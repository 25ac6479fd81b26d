"""Tests of `simulation.clients`: the Tasmota and energyleaf-pi state machines, driven step by
step on a manual clock against the fake server (`simulation.tests.helpers`)."""

from __future__ import annotations

import socket
import threading

from sensors.protobuf import mapping
from simulation.clients import PiClient, SensorClient, TasmotaClient, create_client
from simulation.clocks import ManualClock
from simulation.config import SimulatorConfig, Style
from simulation.protocol import SIMULATOR_SCRIPT
from simulation.tests.helpers import FakeServer

START = 1_720_000_000.0  # 2024-07-03T09:46:40Z


def _client(
    server: FakeServer, style: Style = "tasmota", **options: object
) -> tuple[SensorClient, ManualClock]:
    clock = ManualClock(START)
    config = SimulatorConfig(base_url=server.url, style=style, **options)  # type: ignore[arg-type]
    client = create_client(config, 1, clock=clock, stop=threading.Event())
    server.clients.append(client)
    return client, clock


def _drive(client: SensorClient, clock: ManualClock, seconds: float) -> None:
    """Run the client's steps on the manual clock for `seconds` of simulated time."""
    end = clock.monotonic() + seconds
    for _ in range(100_000):
        delay = client.step()
        if clock.monotonic() + delay > end:
            break
        clock.advance(delay)
    clock.advance(end - clock.monotonic())


# --- Tasmota -------------------------------------------------------------------------------------


def test_tasmota_asks_for_script_once_confirms_it_and_renews_at_expiry(server):
    server.state.script = SIMULATOR_SCRIPT
    server.state.expires_in = 60
    client, clock = _client(server, interval_s=15)
    _drive(client, clock, 70)
    state = server.state
    first, second = state.token_bodies
    assert first == mapping.encode_token_request(
        mapping.TokenRequestData("5C:CF:7F:00:00:01", 1, need_script=True)
    )
    assert first.endswith(b"\x10\x01\x18\x01")
    assert second.endswith(b"\x10\x01")  # need_script no longer encoded
    assert state.script_accepted == [f"T{1:029d}"]
    readings = [reading for _, reading in state.inputs]
    assert len(readings) == 5  # at 0, 15, 30, 45, 60 s
    assert all(r.timestamp_raw is None and r.sensor_type == 1 for r in readings)
    assert all(r.value_current and r.value_out is None for r in readings)
    assert [r.access_token for r in readings] == [f"T{1:029d}"] * 4 + [f"T{2:029d}"]
    counters = client.counters
    assert (counters.scripts_received, counters.scripts_confirmed) == (1, 1)
    assert (counters.token_requests, counters.tokens_received) == (2, 2)
    assert (counters.readings, counters.sent, counters.accepted) == (5, 5, 5)
    assert client.transport.connects == 1  # one kept-alive connection
    client.finish()
    assert client.counters.inconsistencies() == []


def test_tasmota_stays_inactive_until_the_script_is_confirmed(server):
    server.state.script = SIMULATOR_SCRIPT
    server.state.fail_script_accepted = 1
    client, clock = _client(server, interval_s=15)
    assert isinstance(client, TasmotaClient)
    assert client.step() == 30  # retry the token step in 30 s
    assert not client.active
    assert server.state.inputs == []
    _drive(client, clock, 31)
    assert client.active
    assert len(server.state.token_bodies) == 2
    # The driver stopped asking, but the server still owes it the script and sends it again.
    assert server.state.token_bodies[1].endswith(b"\x10\x01")
    assert client.counters.token_failures == {"script_accepted: HTTP 500": 1}
    assert (client.counters.scripts_received, client.counters.scripts_confirmed) == (2, 1)
    assert server.state.needs_script == set()


def test_tasmota_without_requested_script_keeps_retrying(server):
    client, clock = _client(server, interval_s=15)
    _drive(client, clock, 65)
    assert len(server.state.token_bodies) == 3
    assert client.counters.token_failures == {"script requested but not received": 3}
    assert client.counters.readings == 0


def test_tasmota_renews_token_on_401_and_resends_the_reading_once(server):
    server.state.fail_401 = 1
    client, _ = _client(server, first_boot_need_script=False)
    client.step()
    first, second = (reading for _, reading in server.state.inputs)
    assert (first.value, first.value_current) == (second.value, second.value_current)
    assert first.access_token != second.access_token
    counters = client.counters
    assert (counters.readings, counters.sent, counters.unauthorized, counters.accepted) == (
        1,
        2,
        1,
        1,
    )
    assert counters.token_requests == 2
    assert counters.resent == 1
    assert counters.inconsistencies() == []


def test_tasmota_drops_the_reading_on_500_and_on_a_second_401(server):
    server.state.fail_500 = 1
    client, clock = _client(server, first_boot_need_script=False, interval_s=15)
    _drive(client, clock, 20)  # readings at 0 s (500) and 15 s (stored)
    server.state.fail_401 = 2
    _drive(client, clock, 15)  # reading at 30 s: 401, new token, 401 again
    counters = client.counters
    assert len(server.state.inputs) == 4
    assert (counters.readings, counters.accepted, counters.failed) == (3, 1, 1)
    assert counters.unauthorized == 2
    assert counters.lost_by_client == 2
    assert counters.failure_reasons == {"Database error": 1}
    assert not client.active
    client.finish()
    assert counters.inconsistencies() == []


# --- energyleaf-pi -------------------------------------------------------------------------------


def test_pi_token_request_encodes_need_script_false(server):
    client, _ = _client(server, "pi")
    client.step()
    assert server.state.token_bodies[0].endswith(b"\x10\x01\x18\x00")
    assert client.counters.accepted == 1


def test_pi_buffers_on_500_and_resends_newest_first_with_nanosecond_timestamps(server):
    server.state.fail_500 = 3
    client, clock = _client(server, "pi", interval_s=15, resync_interval_s=60)
    assert isinstance(client, PiClient)
    _drive(client, clock, 50)  # readings at 0, 15, 30 fail; 45 is stored
    assert client.buffer_size == 3
    _drive(client, clock, 20)  # reading at 60 s, then the resync pass
    assert client.buffer_size == 0
    readings = [reading for _, reading in server.state.inputs]
    assert len(readings) == 8
    resent = readings[5:]
    expected_ns = [int((START + t) * 1e9) for t in (30, 15, 0)]
    assert [r.timestamp_raw for r in resent] == expected_ns
    assert [r.value for r in resent] == [readings[2].value, readings[1].value, readings[0].value]
    assert [r.value_current for r in resent] == [r.value_current for r in readings[2::-1]]
    assert all(r.timestamp_raw is None for r in readings[:5])
    counters = client.counters
    assert (counters.readings, counters.sent, counters.failed) == (5, 8, 3)
    assert (counters.buffered, counters.resent, counters.resent_accepted) == (3, 3, 3)
    assert counters.accepted == 5
    client.finish()
    assert counters.pending == 0
    assert counters.inconsistencies() == []
    timestamped = {(r.client_id, r.time_ns) for r in client.stored if r.timestamped}
    assert timestamped == {("5C:CF:7F:00:00:01", ns) for ns in expected_ns}
    assert timestamped <= set(server.state.stored)


def test_pi_does_not_buffer_a_refused_reading(server):
    server.state.refuse = 1
    client, clock = _client(server, "pi", interval_s=15, resync_interval_s=30)
    _drive(client, clock, 40)
    counters = client.counters
    assert (counters.refused, counters.buffered, counters.accepted) == (1, 0, 2)
    assert counters.refused_reasons == {"Value too high": 1}
    assert len(server.state.inputs) == 3


def test_pi_renews_its_token_on_401(server):
    server.state.fail_401 = 1
    client, _ = _client(server, "pi")
    client.step()
    assert client.counters.token_requests == 2
    assert (client.counters.unauthorized, client.counters.accepted) == (1, 1)
    assert client.counters.buffered == 0


def test_pi_keeps_its_token_50_minutes_at_most(server):
    server.state.expires_in = 3600
    client, clock = _client(server, "pi", interval_s=600, resync_interval_s=7200)
    _drive(client, clock, 3001)  # readings at 0, 600, ..., 3000 s
    assert client.counters.token_requests == 2


def test_pi_buffers_readings_while_the_server_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once closed
    clock = ManualClock(START)
    config = SimulatorConfig(base_url=url, style="pi", interval_s=15, buffer_limit=3)
    client = create_client(config, 1, clock=clock, stop=threading.Event())
    _drive(client, clock, 70)
    client.finish()
    counters = client.counters
    assert counters.readings == 5
    assert counters.sent == 0
    assert counters.buffered == 5
    assert (counters.lost_by_client, counters.pending) == (2, 3)
    assert sum(counters.token_failures.values()) >= 1
    assert counters.inconsistencies() == []


def test_pi_batch_resends_the_buffer_in_one_batch_and_counts_duplicates(server):
    server.state.fail_500 = 3
    client, clock = _client(server, "pi-batch", interval_s=15, resync_interval_s=60)
    _drive(client, clock, 50)
    # The first failed reading reached the database after all (answer lost, say).
    first = server.state.inputs[0][1]
    server.state.store("5C:CF:7F:00:00:01", int(START * 1e9), first.value)
    _drive(client, clock, 20)
    ((batch_client, batch),) = server.state.batches
    assert batch_client == "5C:CF:7F:00:00:01"
    assert [r.timestamp_raw for r in batch.readings] == [
        int((START + t) * 1e9) for t in (0, 15, 30)
    ]
    counters = client.counters
    assert (counters.resent, counters.resent_accepted, counters.duplicates) == (3, 2, 1)
    client.finish()
    assert counters.pending == 0
    assert counters.inconsistencies() == []


def test_pi_batch_follows_the_advertised_batch_limit(server):
    server.state.fail_500 = 5
    server.state.batch_max = 2
    client, clock = _client(server, "pi-batch", interval_s=10, resync_interval_s=50, batch_size=4)
    _drive(client, clock, 105)  # 5 failed readings; passes at 50 s and 100 s
    sizes = [len(batch.readings) for _, batch in server.state.batches]
    # 413 for the newest 4, the oldest alone in the same pass, then chunks of 2 next pass.
    assert sizes == [4, 1, 2, 2]
    counters = client.counters
    assert counters.failure_reasons == {"Database error": 5, "Too many readings": 4}
    assert counters.resent_accepted == 5
    client.finish()
    assert counters.pending == 0
    assert counters.inconsistencies() == []
