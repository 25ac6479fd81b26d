"""A fake Energyleaf server for the simulation's tests (and the demo's command test).

A threading `http.server` on 127.0.0.1 that answers chunked protobuf like the real one must; no
project views are involved. `fake_server()` runs one for the length of a `with` block.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sensors.protobuf import mapping
from simulation.clients import SensorClient
from simulation.protocol import (
    BATCH_MAX_HEADER,
    BATCH_PATH,
    SCRIPT_ACCEPTED_PATH,
    SENSOR_INPUT_PATH,
    TOKEN_PATH,
)


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
            if self.path == TOKEN_PATH:
                status, answer = self._token(state, body)
            elif self.path == SENSOR_INPUT_PATH:
                status, answer = self._input(state, body)
            elif self.path == SCRIPT_ACCEPTED_PATH:
                status, answer = self._script_accepted(state, body)
            elif self.path == BATCH_PATH:
                status, answer = self._batch(state, body)
            else:
                status, answer = 404, mapping.encode_sensor_data_response(404, "Not found")
            close = state.close_after_response
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Transfer-Encoding", "chunked")
        if self.path == BATCH_PATH and state.batch_max is not None:
            self.send_header(BATCH_MAX_HEADER, str(state.batch_max))
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


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    """A running fake server; its clients' connections are closed and it is stopped on exit."""
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
