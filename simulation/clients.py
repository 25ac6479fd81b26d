"""Simulated Energyleaf sensors as the field firmware behaves: the Tasmota driver and the
energyleaf-pi client (styles `pi` and `pi-batch`) as state machines speaking the real v1 protobuf
protocol over HTTP (docs/protocol.md, "Tasmota driver" and "Pi client").

`step()` performs one action and returns the seconds until the next one, so tests can drive a
client without threads; `simulation.run` drives many in threads. Each client reads its meter from
a `simulation.meter.HouseholdModel` and counts what happened in `simulation.summary`'s counters.
Pure Python, no Django.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sensors.protobuf.mapping import (
    BatchData,
    BatchReadingData,
    BatchResponseData,
    InvalidPayload,
    ReadingData,
    ScriptAcceptedData,
    TokenRequestData,
    TokenResponseData,
    decode_batch_response,
    decode_status_response,
    decode_token_response,
    encode_batch,
    encode_script_accepted,
    encode_sensor_input,
    encode_token_request,
)
from simulation.clocks import Clock
from simulation.config import SimulatorConfig, Style, client_id_for
from simulation.meter import HouseholdModel
from simulation.protocol import (
    BATCH_PATH,
    DIGITAL_ELECTRICITY,
    SCRIPT_ACCEPTED_PATH,
    SENSOR_INPUT_PATH,
    TOKEN_PATH,
    Outcome,
    classify_status,
)
from simulation.summary import StoredReading, StyleCounters, UncertainReading
from simulation.transport import HttpAnswer, HttpTransport, TransportError

logger = logging.getLogger(__name__)

PI_TOKEN_CACHE_S: Final = 50 * 60.0
"""energyleaf-pi keeps a token for 50 minutes (capped here by the advertised `expires_in`)."""
MIN_TOKEN_LIFETIME_S: Final = 1.0
"""A token answer without a usable `expires_in` is renewed after this long, never in a loop."""
RESYNC_MAX_CONSECUTIVE_FAILURES: Final = 3


@dataclass(frozen=True, slots=True)
class _Reading:
    time_us: int
    value_kwh: float
    power_w: float

    @property
    def time_ns(self) -> int:
        return self.time_us * 1000


def _next_due(due: float, now: float, interval: float) -> float:
    """The next slot of a fixed cadence; missed slots are skipped, not caught up."""
    following = due + interval
    return following if following > now else now + interval


class SensorClient:
    """Common part of the simulated clients: token handling, sending, counting, the run loop.

    Subclasses implement `step()`: perform the action that is due and return the seconds until
    the next one (0 when more work is pending). `run()` repeats it until `stop` is set; every
    wait is a sleep on the injected clock, so an idle client costs no CPU.
    """

    style: ClassVar[Style]
    user_agent: ClassVar[str] = "Energyleaf-Simulator"

    def __init__(
        self,
        *,
        client_id: str,
        index: int,
        config: SimulatorConfig,
        clock: Clock,
        stop: threading.Event,
        transport: HttpTransport | None = None,
        model: HouseholdModel | None = None,
    ) -> None:
        self.client_id = client_id
        self.index = index
        self.config = config
        self._clock = clock
        self._stop = stop
        self.transport = transport or HttpTransport(
            config.base_url, clock=clock, timeout=config.timeout_s, user_agent=self.user_agent
        )
        self.model = model or HouseholdModel(
            seed=config.seed,
            index=index,
            start=clock.time(),
            register_kwh=config.start_registers.get(client_id),
        )
        self.counters = StyleCounters(clients=1)
        self.stored: list[StoredReading] = []
        self.maybe_stored: list[UncertainReading] = []
        self._token: str | None = None
        self._last_time_us = 0

    # -- loop ---------------------------------------------------------------------------------

    def step(self) -> float:
        """Do what is due now; return the seconds until the next action."""
        raise NotImplementedError

    def run(self, initial_delay: float = 0.0) -> None:
        """Run until the stop event is set; errors are logged and counted, never raised."""
        try:
            if not self._clock.sleep(initial_delay, self._stop):
                while not self._stop.is_set():
                    if self._clock.sleep(self.step(), self._stop):
                        break
        except Exception:
            self.counters.client_errors += 1
            logger.exception("simulator.client_failed client_id=%s", self.client_id)
        finally:
            self.finish()

    def finish(self) -> None:
        """Close the connection and settle the counters; call once when the client stops."""
        self.transport.close()
        self.counters.connects = self.transport.connects

    # -- helpers --------------------------------------------------------------------------------

    def take_reading(self) -> _Reading:
        """Read the meter now (unique, increasing microsecond times per client)."""
        time_us = max(round(self._clock.time() * 1_000_000), self._last_time_us + 1)
        self._last_time_us = time_us
        sample = self.model.sample(time_us / 1_000_000)
        self.counters.readings += 1
        return _Reading(time_us=time_us, value_kwh=sample.register_kwh, power_w=sample.power_w)

    def _post(self, path: str, body: bytes) -> HttpAnswer | TransportError:
        try:
            return self.transport.post(path, body)
        except TransportError as exc:
            logger.debug(
                "simulator.transport_error client_id=%s path=%s reason=%s",
                self.client_id,
                path,
                exc.reason,
            )
            return exc

    def _effective_status(self, answer: HttpAnswer, body_status: int) -> int:
        """HTTP status, or the body status when an HTTP 2xx carries another status."""
        if body_status == 0:
            self.counters.protocol_errors["empty body"] += 1
            return answer.status
        if body_status != answer.status:
            self.counters.protocol_errors["body status differs from HTTP status"] += 1
            if 200 <= answer.status <= 299:
                return body_status
        return answer.status

    def _token_request_body(self) -> bytes:
        raise NotImplementedError

    def _token_lifetime(self, answer: TokenResponseData) -> float:
        raise NotImplementedError

    def _request_token(self) -> TokenResponseData | None:
        """Ask for a token; store it and return the answer, or count the failure and return
        None."""
        self.counters.token_requests += 1
        self._token = None
        result = self._post(TOKEN_PATH, self._token_request_body())
        if isinstance(result, TransportError):
            self.counters.token_failures[result.reason] += 1
            return None
        if self.style == "tasmota" and 200 <= result.status <= 299 and not result.chunked:
            self.counters.token_failures["answer not chunked"] += 1
            return None
        try:
            answer = decode_token_response(result.body)
        except InvalidPayload:
            self.counters.token_failures[f"HTTP {result.status} undecodable"] += 1
            return None
        status = self._effective_status(result, answer.status)
        if not 200 <= status <= 299:
            self.counters.token_failures[answer.status_message or f"HTTP {status}"] += 1
            return None
        if not answer.access_token:
            self.counters.token_failures["no access_token"] += 1
            return None
        self._token = answer.access_token
        self.counters.tokens_received += 1
        return answer

    def _send(self, reading: _Reading, *, timestamped: bool, resend: bool) -> Outcome:
        """Send one reading with the current token and count its outcome."""
        data = ReadingData(
            access_token=self._token or "",
            sensor_type=DIGITAL_ELECTRICITY,
            value=reading.value_kwh,
            value_current=reading.power_w if reading.power_w != 0 else None,
            value_out=None,
            timestamp_raw=reading.time_ns if timestamped else None,
            wire_format="v2",
        )
        self.counters.sent += 1
        self.counters.resent += int(resend)
        result = self._post(SENSOR_INPUT_PATH, encode_sensor_input(data))
        if isinstance(result, TransportError):
            if result.request_sent:
                self._uncertain(reading, timestamped)
            return self._count_failure(result.reason)
        try:
            answer = decode_status_response(result.body)
        except InvalidPayload:
            if 200 <= result.status <= 299:
                self._uncertain(reading, timestamped)
            return self._count_failure(f"HTTP {result.status} undecodable")
        status = self._effective_status(result, answer.status)
        outcome = classify_status(status, answer.status_message)
        if self.style == "tasmota" and outcome in ("accepted", "duplicate"):
            if result.extra_chunks:
                self.counters.protocol_errors["answer in more than one chunk"] += 1
            if not result.chunked:
                self._uncertain(reading, timestamped)
                return self._count_failure("answer not chunked")
        return self._count(outcome, status, answer.status_message, reading, timestamped, resend)

    def _count(
        self,
        outcome: Outcome,
        status: int,
        message: str | None,
        reading: _Reading,
        timestamped: bool,
        resend: bool,
    ) -> Outcome:
        counters = self.counters
        if outcome in ("accepted", "duplicate"):
            duplicate = outcome == "duplicate"
            if duplicate:
                counters.duplicates += 1
            else:
                counters.accepted += 1
                counters.resent_accepted += int(resend)
            self.stored.append(
                StoredReading(
                    self.client_id, reading.time_ns, reading.value_kwh, timestamped, duplicate
                )
            )
        elif outcome == "unauthorized":
            counters.unauthorized += 1
        elif outcome == "refused":
            counters.refused += 1
            counters.refused_reasons[message or f"HTTP {status}"] += 1
        else:
            counters.failed += 1
            counters.failure_reasons[message or f"HTTP {status}"] += 1
        return outcome

    def _count_failure(self, reason: str, readings: int = 1) -> Outcome:
        self.counters.failed += readings
        self.counters.failure_reasons[reason] += readings
        return "failed"

    def _uncertain(self, reading: _Reading, timestamped: bool) -> None:
        self.maybe_stored.append(
            UncertainReading(self.client_id, reading.time_ns, reading.value_kwh, timestamped)
        )


class TasmotaClient(SensorClient):
    """The Tasmota driver (docs/protocol.md, "Tasmota driver"), minus TLS and the SML hardware.

    * Token requests carry `type = 1`; `need_script = true` is encoded only while the client
      wants its script (first boot, `first_boot_need_script`), otherwise the field is absent.
    * A `script` in the token answer is stored and confirmed on `/api/v1/script_accepted`; only a
      2xx there makes the client active. Any token failure (including a requested script that did
      not come, or a non-chunked 2xx answer) leaves it inactive and retries after `token_retry`.
    * The token is renewed when `expires_in` has counted down to 0.
    * While active, one reading every `interval_s`: value, value_current when not 0, never
      value_out (the model has no feed-in) and never a timestamp (unless `live_timestamps`).
    * HTTP 401 or body status 401 → new token and the same reading once more. Any other
      failure drops the reading (`lost_by_client`): the driver has no buffer.
    """

    style: ClassVar[Style] = "tasmota"
    user_agent: ClassVar[str] = "Energyleaf-Sensor-Digital"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._need_script = self.config.first_boot_need_script
        self._active = False
        self._expires_at = 0.0
        self._next_reading = self._clock.monotonic()

    @property
    def active(self) -> bool:
        """Whether the client holds a confirmed token."""
        return self._active

    def _token_request_body(self) -> bytes:
        request = TokenRequestData(self.client_id, DIGITAL_ELECTRICITY, self._need_script)
        return encode_token_request(request)

    def _token_lifetime(self, answer: TokenResponseData) -> float:
        return max(float(answer.expires_in or 0), MIN_TOKEN_LIFETIME_S)

    def _activate(self) -> bool:
        """The driver's token step: token, script, confirmation. Returns whether active."""
        self._active = False
        answer = self._request_token()
        if answer is None:
            return False
        if answer.script is not None:
            self.counters.scripts_received += 1
            self._need_script = False
            body = encode_script_accepted(ScriptAcceptedData(access_token=self._token or ""))
            result = self._post(SCRIPT_ACCEPTED_PATH, body)
            if isinstance(result, TransportError):
                self.counters.token_failures[f"script_accepted: {result.reason}"] += 1
                return False
            if not 200 <= result.status <= 299:
                self.counters.token_failures[f"script_accepted: HTTP {result.status}"] += 1
                return False
            self.counters.scripts_confirmed += 1
        elif self._need_script:
            self.counters.token_failures["script requested but not received"] += 1
            return False
        self._expires_at = self._clock.monotonic() + self._token_lifetime(answer)
        self._active = True
        return True

    def step(self) -> float:
        now = self._clock.monotonic()
        if not self._active or now >= self._expires_at:
            if not self._activate():
                return self.config.token_retry
            now = self._clock.monotonic()
        if now < self._next_reading:
            return min(self._next_reading, self._expires_at) - now
        self._next_reading = _next_due(self._next_reading, now, self.config.interval_s)
        self._deliver(self.take_reading())
        return max(0.0, min(self._next_reading, self._expires_at) - self._clock.monotonic())

    def _deliver(self, reading: _Reading) -> None:
        if self.transport.backing_off():
            self.counters.lost_by_client += 1
            return
        timestamped = self.config.live_timestamps
        outcome = self._send(reading, timestamped=timestamped, resend=False)
        if outcome == "unauthorized":
            if self._activate():
                outcome = self._send(reading, timestamped=timestamped, resend=True)
            if outcome == "unauthorized":
                self._active = False
        if outcome in ("failed", "unauthorized"):
            self.counters.lost_by_client += 1


class PiClient(SensorClient):
    """energyleaf-pi (docs/protocol.md, "Pi client") with an in-memory SQLite-buffer equivalent.

    * Token requests carry `type = 1` and an explicitly encoded `need_script = false`; answers
      are decoded whatever the HTTP status. A token is kept min(50 min, `expires_in`).
    * One reading every `interval_s`, live without timestamp (unless `live_timestamps`).
    * A reading that is not answered 2xx and not refused (connection error, 5xx, 408/413/429,
      no token) goes into a buffer of at most `buffer_limit` readings; beyond that the oldest is
      dropped (`lost_by_client`). A refusal (4xx other than 401) is final and not buffered.
    * Every `resync_interval_s` the buffer is re-sent newest-first, one reading per request with
      `timestamp` = the original reading time in nanoseconds (u64), interleaved with the live
      cadence; a pass stops after `RESYNC_MAX_CONSECUTIVE_FAILURES` failures in a row.

    Deliberate differences from the real client: on 401 it fetches a new token and sends the
    reading once more (the real Pi ignores 401 and keeps its token until its 50 minutes are up);
    a failed resend does not add another unsynced copy, and `value_current` is re-sent as
    `value_current` (the real Pi puts `value_out` there).
    """

    style: ClassVar[Style] = "pi"
    user_agent: ClassVar[str] = "energyleaf-pi"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        now = self._clock.monotonic()
        self._token_valid_until = -math.inf
        self._next_reading = now
        self._next_resync = now + self.config.resync_interval_s
        self._buffer: dict[int, _Reading] = {}
        self._resync_queue: list[int] = []
        self._resync_failures = 0

    @property
    def buffer_size(self) -> int:
        """Readings waiting to be re-sent."""
        return len(self._buffer)

    def _token_request_body(self) -> bytes:
        request = TokenRequestData(self.client_id, DIGITAL_ELECTRICITY, need_script=False)
        return encode_token_request(request, send_need_script=True)

    def _token_lifetime(self, answer: TokenResponseData) -> float:
        lifetime = float(answer.expires_in or 0)
        return max(min(PI_TOKEN_CACHE_S, lifetime), MIN_TOKEN_LIFETIME_S)

    def _ensure_token(self, *, renew: bool = False) -> bool:
        if not renew and self._token and self._clock.monotonic() < self._token_valid_until:
            return True
        self._token_valid_until = -math.inf
        answer = self._request_token()
        if answer is None:
            return False
        self._token_valid_until = self._clock.monotonic() + self._token_lifetime(answer)
        return True

    def _buffer_add(self, reading: _Reading) -> None:
        while len(self._buffer) >= self.config.buffer_limit:
            del self._buffer[next(iter(self._buffer))]
            self.counters.lost_by_client += 1
        self._buffer[reading.time_us] = reading
        self.counters.buffered += 1

    def step(self) -> float:
        now = self._clock.monotonic()
        if now >= self._next_reading:
            self._next_reading = _next_due(self._next_reading, now, self.config.interval_s)
            self._live(self.take_reading())
        elif self._resync_queue:
            self._resync(deadline=self._next_reading)
        elif now >= self._next_resync:
            self._next_resync = now + self.config.resync_interval_s
            self._resync_queue = list(self._buffer)  # oldest first; popped from the end
            self._resync_failures = 0
            self._resync(deadline=self._next_reading)
        if self._resync_queue:
            return 0.0
        return max(0.0, min(self._next_reading, self._next_resync) - self._clock.monotonic())

    def _live(self, reading: _Reading) -> None:
        if self.transport.backing_off() or not self._ensure_token():
            self._buffer_add(reading)
            return
        timestamped = self.config.live_timestamps
        outcome = self._send(reading, timestamped=timestamped, resend=False)
        if outcome == "unauthorized" and self._ensure_token(renew=True):
            outcome = self._send(reading, timestamped=timestamped, resend=True)
        if outcome in ("failed", "unauthorized"):
            self._buffer_add(reading)

    def _resync_done(self, failed: bool) -> None:
        self._resync_failures = self._resync_failures + 1 if failed else 0
        if self._resync_failures >= RESYNC_MAX_CONSECUTIVE_FAILURES:
            self._resync_queue.clear()

    def _resync(self, *, deadline: float) -> None:
        """Re-send buffered readings until the queue is empty, the next live reading is due,
        the pass is abandoned or the simulation stops."""
        while self._resync_queue and not self._stop.is_set() and self._clock.monotonic() < deadline:
            if self.transport.backing_off() or not self._ensure_token():
                self._resync_queue.clear()
                return
            self._resync_next()

    def _resync_next(self) -> None:
        key = self._resync_queue.pop()
        reading = self._buffer.get(key)
        if reading is None:
            return
        outcome = self._send(reading, timestamped=True, resend=True)
        if outcome == "unauthorized" and self._ensure_token(renew=True):
            outcome = self._send(reading, timestamped=True, resend=True)
        if outcome in ("accepted", "duplicate", "refused"):
            del self._buffer[key]
        self._resync_done(failed=outcome in ("failed", "unauthorized"))

    def finish(self) -> None:
        super().finish()
        self.counters.pending = len(self._buffer)


class PiBatchClient(PiClient):
    """Like `PiClient`, but a resync pass re-sends the buffer on `/api/v1/sensor_input/batch`
    in chunks of up to `batch_size` readings (newest chunk first, readings within a chunk in time
    order), each with its time in nanoseconds.

    A 2xx answer is judged reading by reading from its `results`; a reading without a result is
    counted as failed ("batch result missing") and stays buffered. A 401 renews the token and
    repeats the chunk once; another 4xx refuses the whole chunk; anything else fails it. The
    chunk size also respects the server's `X-Energyleaf-Batch-Max` header, and is halved after a
    413 answer.
    """

    style: ClassVar[Style] = "pi-batch"
    user_agent: ClassVar[str] = "energyleaf-pi-batch"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_size = self.config.batch_size
        """Current chunk size: `config.batch_size`, lowered by the server's limits."""

    def _resync_next(self) -> None:
        chunk: list[_Reading] = []
        while self._resync_queue and len(chunk) < self.batch_size:
            reading = self._buffer.get(self._resync_queue.pop())
            if reading is not None:
                chunk.append(reading)
        if not chunk:
            return
        chunk.reverse()
        failed = self._send_batch(chunk)
        if failed == "unauthorized" and self._ensure_token(renew=True):
            failed = self._send_batch([r for r in chunk if r.time_us in self._buffer])
        self._resync_done(failed=failed is not None)

    def _send_batch(self, chunk: list[_Reading]) -> Outcome | None:
        """Send one chunk; return None if every reading got a final answer, else the
        outcome ("failed" or "unauthorized") that leaves readings in the buffer."""
        size = len(chunk)
        if not size:
            return None
        request = BatchData(
            access_token=self._token or "",
            sensor_type=DIGITAL_ELECTRICITY,
            readings=tuple(
                BatchReadingData(
                    value=reading.value_kwh,
                    value_current=reading.power_w if reading.power_w != 0 else None,
                    value_out=None,
                    timestamp_raw=reading.time_ns,
                )
                for reading in chunk
            ),
        )
        self.counters.sent += size
        self.counters.resent += size
        result = self._post(BATCH_PATH, encode_batch(request))
        if isinstance(result, TransportError):
            if result.request_sent:
                for reading in chunk:
                    self._uncertain(reading, True)
            return self._count_failure(result.reason, size)
        if result.batch_max is not None:
            self.batch_size = min(self.config.batch_size, result.batch_max)
        if result.status == 413 and result.batch_max is None:
            self.batch_size = max(1, min(self.batch_size, size) // 2)
        try:
            answer = decode_batch_response(result.body)
        except InvalidPayload:
            if 200 <= result.status <= 299:
                for reading in chunk:
                    self._uncertain(reading, True)
            return self._count_failure(f"HTTP {result.status} undecodable", size)
        status = self._effective_status(result, answer.status)
        if not 200 <= status <= 299:
            outcome = classify_status(status, answer.status_message)
            for reading in chunk:
                self._count(outcome, status, answer.status_message, reading, True, True)
            if outcome == "refused":
                for reading in chunk:
                    del self._buffer[reading.time_us]
                return None
            return outcome
        return self._settle_batch(chunk, answer)

    def _settle_batch(self, chunk: list[_Reading], answer: BatchResponseData) -> Outcome | None:
        by_index = {item.index: item for item in answer.results}
        tally: Counter[Outcome] = Counter()
        for index, reading in enumerate(chunk):
            item = by_index.get(index)
            if item is None:
                outcome = self._count_failure("batch result missing")
            else:
                outcome = classify_status(item.status, item.status_message)
                self._count(outcome, item.status, item.status_message, reading, True, True)
            tally[outcome] += 1
            if outcome in ("accepted", "duplicate", "refused"):
                del self._buffer[reading.time_us]
        if (answer.accepted, answer.duplicates, answer.rejected) != (
            tally["accepted"],
            tally["duplicate"],
            tally["refused"],
        ):
            self.counters.protocol_errors["batch counters differ from results"] += 1
        if tally["unauthorized"]:
            return "unauthorized"
        return "failed" if tally["failed"] else None


CLIENT_CLASSES: Final[dict[Style, type[SensorClient]]] = {
    "tasmota": TasmotaClient,
    "pi": PiClient,
    "pi-batch": PiBatchClient,
}


def create_client(
    config: SimulatorConfig,
    index: int,
    *,
    clock: Clock,
    stop: threading.Event,
    transport: HttpTransport | None = None,
) -> SensorClient:
    """The client of `config.style` for sensor `index` (its model starts at `clock.time()`)."""
    return CLIENT_CLASSES[config.style](
        client_id=client_id_for(config.client_id_prefix, index),
        index=index,
        config=config,
        clock=clock,
        stop=stop,
        transport=transport,
    )
