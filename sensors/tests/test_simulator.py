"""Tests of `sensors.simulator`: the consumption model and the client state machines.

The clients talk to a small fake server on 127.0.0.1 (a threading `http.server` that answers
chunked protobuf like the real one must); no project views are involved. Only the command test
touches the database.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sensors import simulator
from sensors.protobuf import mapping
from sensors.simulator import (
    HouseholdModel,
    HttpTransport,
    ManualClock,
    PiClient,
    ScaledClock,
    SensorClient,
    Simulation,
    SimulatorConfig,
    TasmotaClient,
    create_client,
)

START = 1_720_000_000.0  # 2024-07-03T09:46:40Z
DAY = 86_400.0


# --- fake server ---------------------------------------------------------------------------------


@dataclass
class FakeState:
    """What the fake server answers and what it received (all access under `lock`)."""

    script: str | None = None
    expires_in: int = 3600
    known: set[str] | None = None
    fail_500: int = 0  # answer this many sensor_input/batch requests with 500
    fail_401: int = 0  # answer this many sensor_input requests with 401 and revoke the token
    refuse: int = 0  # answer this many sensor_input requests with 400 `refuse_message`
    refuse_message: str = "Value too high"
    fail_script_accepted: int = 0
    close_after_response: bool = False
    batch_max: int | None = None  # advertise this batch limit and answer 413 above it
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_bodies: list[bytes] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    needs_script: set[str] = field(default_factory=set)
    script_accepted: list[str] = field(default_factory=list)
    inputs: list[tuple[str, mapping.ReadingData]] = field(default_factory=list)
    batches: list[tuple[str, mapping.BatchData]] = field(default_factory=list)
    stored: dict[tuple[str, int], float] = field(default_factory=dict)

    def store(self, client_id: str, timestamp_ns: int | None, value: float) -> bool:
        """Store a reading; False when it is a duplicate."""
        if timestamp_ns is None:
            timestamp_ns = time.time_ns() // 1000 * 1000
        key = (client_id, timestamp_ns)
        if key in self.stored:
            return False
        self.stored[key] = value
        return True


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        state = self.server.state
        with state.lock:
            if self.path == simulator.TOKEN_PATH:
                status, answer = self._token(state, body)
            elif self.path == simulator.SENSOR_INPUT_PATH:
                status, answer = self._input(state, body)
            elif self.path == simulator.SCRIPT_ACCEPTED_PATH:
                status, answer = self._script_accepted(state, body)
            elif self.path == simulator.BATCH_PATH:
                status, answer = self._batch(state, body)
            else:
                status, answer = 404, mapping.encode_sensor_data_response(404, "Not found")
            close = state.close_after_response
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Transfer-Encoding", "chunked")
        if self.path == simulator.BATCH_PATH and state.batch_max is not None:
            self.send_header(simulator.BATCH_MAX_HEADER, str(state.batch_max))
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (len(answer), answer) if answer else b""
        self.wfile.write(chunk + b"0\r\n\r\n")
        self.wfile.flush()
        if close:
            self.close_connection = True  # without telling the client, like an idle timeout

    def _token(self, state, body):
        state.token_bodies.append(body)
        request = mapping.decode_token_request(body)
        if state.known is not None and request.client_id not in state.known:
            return 404, mapping.encode_token_response(404, "Sensor not found")
        token = f"T{len(state.token_bodies):029d}"
        state.tokens[token] = request.client_id
        if request.need_script:
            state.needs_script.add(request.client_id)  # kept until the sensor confirms
        script = state.script if request.client_id in state.needs_script else None
        return 200, mapping.encode_token_response(
            200, access_token=token, expires_in=state.expires_in, script=script
        )

    def _script_accepted(self, state, body):
        token = mapping.decode_script_accepted(body).access_token
        if token not in state.tokens:
            return 401, mapping.encode_script_accepted_response(401, "Token not found")
        if state.fail_script_accepted:
            state.fail_script_accepted -= 1
            return 500, mapping.encode_script_accepted_response(500, "Database error")
        state.script_accepted.append(token)
        state.needs_script.discard(state.tokens[token])
        return 200, mapping.encode_script_accepted_response(200)

    def _input(self, state, body):
        reading = mapping.decode_sensor_input(body)
        client_id = state.tokens.get(reading.access_token, "?")
        state.inputs.append((client_id, reading))
        if state.fail_500:
            state.fail_500 -= 1
            return 500, mapping.encode_sensor_data_response(500, "Database error")
        if state.fail_401:
            state.fail_401 -= 1
            state.tokens.pop(reading.access_token, None)
            return 401, mapping.encode_sensor_data_response(401, "Token invalid")
        if reading.access_token not in state.tokens:
            return 401, mapping.encode_sensor_data_response(401, "Token not found")
        if state.refuse:
            state.refuse -= 1
            return 400, mapping.encode_sensor_data_response(400, state.refuse_message)
        if not state.store(client_id, reading.timestamp_raw, reading.value):
            return 200, mapping.encode_sensor_data_response(200, "Duplicate")
        return 200, mapping.encode_sensor_data_response(200)

    def _batch(self, state, body):
        batch = mapping.decode_batch(body)
        client_id = state.tokens.get(batch.access_token, "?")
        state.batches.append((client_id, batch))
        if state.fail_500:
            state.fail_500 -= 1
            return 500, mapping.encode_batch_response(500, "Database error")
        if batch.access_token not in state.tokens:
            return 401, mapping.encode_batch_response(401, "Token not found")
        if state.batch_max is not None and len(batch.readings) > state.batch_max:
            return 413, mapping.encode_batch_response(413, "Too many readings")
        results = []
        for index, reading in enumerate(batch.readings):
            new = state.store(client_id, reading.timestamp_raw, reading.value)
            results.append(mapping.BatchItemResultData(index, 200, None if new else "Duplicate"))
        duplicates = sum(1 for item in results if item.status_message)
        return 200, mapping.encode_batch_response(
            200, accepted=len(results) - duplicates, duplicates=duplicates, results=results
        )


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeState) -> None:
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.state = state
        self.clients: list[SensorClient] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer(FakeState())
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        for client in fake.clients:
            client.transport.close()
        fake.shutdown()
        fake.server_close()
        thread.join(timeout=5)


def _client(
    server: FakeServer, style: simulator.Style = "tasmota", **options: object
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


# --- consumption model ---------------------------------------------------------------------------


def _day_of_samples(model: HouseholdModel, step: float = 15.0) -> list[simulator.MeterSample]:
    return [model.sample(START + k * step) for k in range(1, int(DAY / step) + 1)]


def test_model_is_deterministic_per_seed_and_index():
    first = _day_of_samples(HouseholdModel(seed=7, index=3, start=START))
    again = _day_of_samples(HouseholdModel(seed=7, index=3, start=START))
    other_index = _day_of_samples(HouseholdModel(seed=7, index=4, start=START))
    other_seed = _day_of_samples(HouseholdModel(seed=8, index=3, start=START))
    assert first == again
    assert first != other_index
    assert first != other_seed


def test_model_does_not_depend_on_how_time_is_cut():
    coarse = HouseholdModel(seed=1, index=1, start=START)
    fine = HouseholdModel(seed=1, index=1, start=START)
    coarse.advance_to(START + 6 * 3600)
    for second in range(1, 6 * 3600 + 1):
        fine.advance_to(START + second)
    assert coarse.register_kwh == pytest.approx(fine.register_kwh, abs=1e-6)
    assert coarse.power_w == fine.power_w
    assert coarse.appliance_starts == fine.appliance_starts


@pytest.mark.parametrize("index", [1, 2, 3])
def test_register_never_decreases_and_power_is_plausible(index):
    model = HouseholdModel(seed=0, index=index, start=START)
    start_register = model.sample(START).register_kwh
    samples = _day_of_samples(model)
    registers = [sample.register_kwh for sample in samples]
    years_since_2020 = (START - simulator.REGISTER_EPOCH) / (365.25 * DAY)
    assert 500 + 4000 * years_since_2020 <= start_register <= 30_000 + 20_000 * years_since_2020
    assert all(later >= earlier for earlier, later in itertools.pairwise(registers))
    assert all(100 <= sample.power_w < 15_000 for sample in samples)
    assert all(round(value, 4) == value for value in registers)
    daily_kwh = registers[-1] - start_register
    assert 2 < daily_kwh < 25  # a household uses roughly 3-15 kWh a day
    assert model.sample(START).register_kwh == registers[-1]  # going back is ignored


def test_a_restarted_model_continues_above_the_previous_run():
    for index in range(1, 6):
        first = HouseholdModel(seed=0, index=index, start=START)
        last = first.sample(START + DAY).register_kwh
        restarted = HouseholdModel(seed=0, index=index, start=START + DAY + 60)
        assert last < restarted.sample(START + DAY + 60).register_kwh < last + 15
        assert 250 < first.expected_mean_power_w < 500


def test_appliance_events_appear_over_a_simulated_day():
    starts = []
    for index in range(1, 11):
        model = HouseholdModel(seed=0, index=index, start=START)
        model.advance_to(START + DAY)
        starts.append(model.appliance_starts)
        assert 20 <= model.fridge_cycles <= 28  # about one cycle an hour
    per_day = [sum(counter.values()) for counter in starts]
    assert all(count >= 1 for count in per_day)
    assert 3 <= sum(per_day) / len(per_day) <= 15
    seen = set().union(*starts)
    assert {"kettle", "washing_machine", "oven"} <= seen


def test_client_id_for_and_config_validation():
    assert simulator.client_id_for("5c:cf:7f:00", 1) == "5C:CF:7F:00:00:01"
    assert simulator.client_id_for("5C:CF:7F:00", 0x1234) == "5C:CF:7F:00:12:34"
    config = SimulatorConfig(count=3, first_index=9)
    assert [client_id for _, client_id in config.sensors()] == [
        "5C:CF:7F:00:00:09",
        "5C:CF:7F:00:00:0A",
        "5C:CF:7F:00:00:0B",
    ]
    assert SimulatorConfig(interval_s=1).token_retry == 2
    assert SimulatorConfig().token_retry == 30
    with pytest.raises(ValueError, match="prefix"):
        SimulatorConfig(client_id_prefix="5C:CF:7F")
    with pytest.raises(ValueError, match="65535"):
        SimulatorConfig(first_index=65_535, count=2)
    with pytest.raises(ValueError, match="URL"):
        SimulatorConfig(base_url="ftp://example.org")


# --- Tasmota -------------------------------------------------------------------------------------


def test_tasmota_asks_for_script_once_confirms_it_and_renews_at_expiry(server):
    server.state.script = simulator.SIMULATOR_SCRIPT
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
    server.state.script = simulator.SIMULATOR_SCRIPT
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


# --- transport -----------------------------------------------------------------------------------


def test_transport_reconnects_when_the_server_closed_the_idle_connection(server):
    server.state.close_after_response = True
    clock = ManualClock(START)
    transport = HttpTransport(server.url, clock=clock)
    body = mapping.encode_token_request(mapping.TokenRequestData("5C:CF:7F:00:00:01", 1, False))
    try:
        for _ in range(3):
            answer = transport.post(simulator.TOKEN_PATH, body)
            assert answer.status == 200
            assert answer.chunked
            assert not answer.extra_chunks
            assert answer.content_type == "application/x-protobuf"
            time.sleep(0.1)  # let the server close its end
    finally:
        transport.close()
    assert transport.connects == 3


# --- whole simulation ----------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["tasmota", "pi", "pi-batch"])
def test_simulation_counters_add_up_and_match_the_server(server, style):
    server.state.script = simulator.SIMULATOR_SCRIPT
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


# --- command -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_registers_sensors_runs_and_writes_the_summary(server, tmp_path):
    from energyleaf.users.models import User
    from sensors.models import Sensor

    summary_file = tmp_path / "summary.json"
    out = StringIO()
    args = ["--count", "2", "--interval", "0.2", "--duration", "1", "--url", server.url]
    args += ["--register", "--style", "pi", "--seed", "3", "--summary-file", str(summary_file)]
    call_command("simulate_sensors", *args, stdout=out)
    assert set(Sensor.objects.values_list("client_id", flat=True)) == {
        "5C:CF:7F:00:00:01",
        "5C:CF:7F:00:00:02",
    }
    assert set(User.objects.values_list("email", flat=True)) == {
        "sim-1@energyleaf.local",
        "sim-2@energyleaf.local",
    }
    assert Sensor.objects.filter(needs_script=True).count() == 2
    text = out.getvalue()
    assert "Registered 2 sensor(s) (2 new user(s)); 0 existed already." in text
    assert "Counters add up." in text
    data = json.loads(summary_file.read_text())
    assert data["counters"]["pi"]["clients"] == 2
    assert data["counters"]["pi"]["accepted"] >= 2

    out = StringIO()
    call_command("simulate_sensors", *args, stdout=out)
    assert "Registered 0 sensor(s) (0 new user(s)); 2 existed already." in out.getvalue()
    assert Sensor.objects.count() == 2


def test_command_rejects_a_bad_prefix():
    with pytest.raises(CommandError, match="prefix"):
        call_command("simulate_sensors", "--client-id-prefix", "XX", "--duration", "1")
