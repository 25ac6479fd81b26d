"""Simulated Energyleaf sensors that speak the real v1 protobuf protocol over HTTP.

Used by `manage.py simulate_sensors` (demo data, load and reliability tests) and by tests. The
module needs no database and no Django settings: it talks to any server URL. Only
`register_simulated_sensors` touches the database, and it imports Django inside the function.

Parts:

* `HouseholdModel` - a deterministic household consumption model (cumulative kWh register plus
  current power in W) driven by a seed and the sensor index.
* `HttpTransport` - one kept-alive HTTP/1.1 connection per sensor (`http.client`).
* `TasmotaClient`, `PiClient` (styles `pi` and `pi-batch`) - state machines of the real clients
  (docs/protocol.md, "Tasmota driver" and "Pi client"). `step()` performs one action and
  returns the seconds until the next one, so tests can drive a client without threads.
* `Simulation` - one thread per sensor, a shared stop event, and the `SimulationSummary`.
* `Clock` - the time source and sleeper; `SystemClock` in production, `ScaledClock` (virtual time
  running faster) and `ManualClock` (time moves only when told) in tests.

Counting (per style, `StyleCounters`). Every reading a client takes ends in exactly one of
`accepted`, `duplicates`, `refused`, `lost_by_client` or (still in a buffer when the run stops)
`pending`; so `readings == accepted + duplicates + refused + lost_by_client + pending`. Every
transmission of a reading (a batch of k readings counts k) ends in exactly one of `accepted`,
`duplicates`, `refused`, `unauthorized` or `failed`; so
`sent == accepted + duplicates + refused + unauthorized + failed`. A reading is accepted at most
once, which is why `accepted` appears in both identities. `StyleCounters.inconsistencies()` checks
both.

Outcome of one answer: 2xx is `accepted` (`duplicates` when `status_message` is `Duplicate`);
401 is `unauthorized` (the client fetches a new token and sends the reading once more); 408, 413,
429, 5xx, other statuses, undecodable answers and connection errors are `failed` (the server did
not store it - except for connection errors after the request was sent and undecodable 2xx
answers, whose readings are also listed in `maybe_stored`); any other 4xx is `refused` (the
server will never take that reading; its reason is counted). An HTTP 2xx whose body `status` is not
2xx is judged by the body status (as the Tasmota driver does); mismatches are counted in
`protocol_errors`.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import random
import select
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, Protocol
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError, Message

from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf.mapping import (
    BatchData,
    BatchItemResultData,
    BatchReadingData,
    ReadingData,
    ScriptAcceptedData,
    TokenRequestData,
    encode_batch,
    encode_script_accepted,
    encode_sensor_input,
    encode_token_request,
)

logger = logging.getLogger(__name__)

Style = Literal["tasmota", "pi", "pi-batch"]
STYLES: Final[tuple[Style, ...]] = ("tasmota", "pi", "pi-batch")
Outcome = Literal["accepted", "duplicate", "unauthorized", "refused", "failed"]

TOKEN_PATH: Final = "/api/v1/token"  # noqa: S105 - a URL path, not a password
SENSOR_INPUT_PATH: Final = "/api/v1/sensor_input"
SCRIPT_ACCEPTED_PATH: Final = "/api/v1/script_accepted"
BATCH_PATH: Final = "/api/v1/sensor_input/batch"
BATCH_MAX_HEADER: Final = "X-Energyleaf-Batch-Max"

DIGITAL_ELECTRICITY: Final = 1
DUPLICATE_MESSAGE: Final = "Duplicate"
PI_TOKEN_CACHE_S: Final = 50 * 60.0
"""energyleaf-pi keeps a token for 50 minutes (capped here by the advertised `expires_in`)."""
MIN_TOKEN_LIFETIME_S: Final = 1.0
"""A token answer without a usable `expires_in` is renewed after this long, never in a loop."""
TASMOTA_TOKEN_RETRY_S: Final = 30.0
RESYNC_MAX_CONSECUTIVE_FAILURES: Final = 3
BACKOFF_BASE_S: Final = 0.5
BACKOFF_MAX_S: Final = 5.0
_RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 413, 429})

SIMULATOR_SCRIPT: Final = (
    ">D\n"
    ">B\n"
    "=>sensor53 r\n"
    ">M 1\n"
    "+1,3,s,16,9600,Energyleaf\n"
    "1,77070100010800ff@1000,Import,kWh,energyleaf_kwh,4\n"
    "1,77070100020800ff@1000,Export,kWh,energyleaf_out,4\n"
    "1,77070100100700ff@1,Power,W,energyleaf_current,0\n"
    "#\n"
)
"""SML script registered for simulated sensors (`--register`): import, export and power."""


# --- clocks --------------------------------------------------------------------------------------


class Clock(Protocol):
    """Time source and sleeper of a simulation; injectable so tests run fast."""

    def time(self) -> float:
        """Wall-clock time in seconds since the Unix epoch (reading times)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (schedules, token lifetimes, backoff)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait `seconds` (or less when `stop` is set); return whether `stop` is set."""
        ...


class SystemClock:
    """Real time; sleeping is an interruptible wait on the stop event (no busy loop)."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


class ScaledClock:
    """Virtual time that runs `speed` times faster than real time, from `start` (epoch seconds).

    Thread-safe; every simulated second lasts `1 / speed` real seconds, including sleeps.
    """

    def __init__(self, speed: float, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._start = time.time() if start is None else start
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self._speed

    def time(self) -> float:
        return self._start + self.monotonic()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds) / self._speed)


class ManualClock:
    """Time that moves only through `advance` or `sleep` (which returns at once).

    Meant for driving one client from the test thread; `time()` is `start + monotonic()`.
    """

    def __init__(self, start: float = 1_720_000_000.0) -> None:
        self._start = start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def time(self) -> float:
        return self._start + self.monotonic()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (negative values are ignored)."""
        with self._lock:
            self._elapsed += max(0.0, seconds)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        if not stop.is_set():
            self.advance(seconds)
        return stop.is_set()


# --- household consumption model -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppliancePhase:
    """One phase of an appliance run: power drawn uniformly from `power_w`, length from
    `duration_s` (both (min, max))."""

    power_w: tuple[float, float]
    duration_s: tuple[float, float]


@dataclass(frozen=True, slots=True)
class ApplianceSpec:
    """An appliance that is switched on at random: `daily_rate` mean starts per day."""

    name: str
    daily_rate: float
    phases: tuple[AppliancePhase, ...]

    @property
    def mean_power_w(self) -> float:
        """Long-run mean power of the appliance in W (runs per day x energy per run)."""
        joules = sum(_mean(phase.power_w) * _mean(phase.duration_s) for phase in self.phases)
        return self.daily_rate * joules / 86400.0


def _mean(bounds: tuple[float, float]) -> float:
    return (bounds[0] + bounds[1]) / 2


APPLIANCES: Final[tuple[ApplianceSpec, ...]] = (
    ApplianceSpec("kettle", 3.0, (AppliancePhase((1800, 2200), (120, 240)),)),
    ApplianceSpec("microwave", 1.0, (AppliancePhase((800, 1200), (90, 360)),)),
    ApplianceSpec("hair_dryer", 0.4, (AppliancePhase((1400, 2000), (180, 600)),)),
    ApplianceSpec(
        "washing_machine",
        0.4,
        (
            AppliancePhase((1900, 2200), (900, 1500)),  # heating the water
            AppliancePhase((150, 250), (2400, 4200)),  # washing and rinsing
            AppliancePhase((350, 600), (420, 720)),  # spinning
        ),
    ),
    ApplianceSpec(
        "dishwasher",
        0.5,
        (
            AppliancePhase((1800, 2100), (900, 1500)),
            AppliancePhase((60, 120), (1800, 3000)),
            AppliancePhase((1800, 2100), (600, 900)),
        ),
    ),
    ApplianceSpec("oven", 0.4, (AppliancePhase((2000, 2800), (1200, 3600)),)),
    ApplianceSpec("television", 1.0, (AppliancePhase((70, 150), (3600, 10800)),)),
)

_HOURLY_ACTIVITY_RAW: Final = (
    0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 1.2, 1.8, 1.5, 1.0, 0.9, 1.1,
    1.4, 1.1, 0.9, 0.9, 1.1, 1.6, 2.2, 2.2, 1.8, 1.3, 0.8, 0.3,
)  # fmt: skip
_ACTIVITY_MEAN: Final = sum(_HOURLY_ACTIVITY_RAW) / 24
HOURLY_ACTIVITY: Final = tuple(value / _ACTIVITY_MEAN for value in _HOURLY_ACTIVITY_RAW)
"""Relative appliance activity per household hour, mean 1 (so `daily_rate` is kept)."""
_ACTIVITY_MAX: Final = max(HOURLY_ACTIVITY)
REGISTER_EPOCH: Final = 1_577_836_800.0
"""2020-01-01T00:00:00Z: the registers' reference time (see `HouseholdModel`)."""
REGISTER_HEADROOM: Final = 2.0
"""Days in simulation use at most about 1.8 times the mean (measured over 400 household days)."""
HOUSEHOLD_UTC_OFFSET_S: Final = 3600.0
"""Household hours are UTC+1 (CET) throughout; daylight saving time is not modelled."""


def household_hour(epoch_seconds: float) -> int:
    """The household's hour of day (0..23) at `epoch_seconds`."""
    return int(((epoch_seconds + HOUSEHOLD_UTC_OFFSET_S) % 86400) // 3600)


def _make_rng(*parts: object) -> random.Random:
    """A generator seeded from text, reproducible across processes and Python versions."""
    return random.Random(":".join(str(part) for part in parts))  # noqa: S311 - not security


class _Appliance:
    """Run state of one appliance: idle (next candidate start) or in phase `phase`."""

    def __init__(self, spec: ApplianceSpec, rng: random.Random, now: float) -> None:
        if spec.daily_rate <= 0 or not spec.phases:
            raise ValueError(f"appliance {spec.name} needs a positive rate and phases")
        self.spec = spec
        self._rng = rng
        self.phase = -1
        self.power_w = 0.0
        self.next_change = self._next_candidate(now)

    def _next_candidate(self, now: float) -> float:
        # Poisson thinning: candidates at the peak rate, accepted by the hour's activity.
        rate_per_s = self.spec.daily_rate * _ACTIVITY_MAX / 86400.0
        return now + self._rng.expovariate(rate_per_s)

    def _enter_phase(self, index: int, now: float) -> None:
        phase = self.spec.phases[index]
        self.phase = index
        self.power_w = self._rng.uniform(*phase.power_w)
        self.next_change = now + self._rng.uniform(*phase.duration_s)

    def change(self, now: float) -> bool:
        """Apply the change due at `now`; return True when a run started."""
        if self.phase < 0:
            activity = HOURLY_ACTIVITY[household_hour(now)]
            if self._rng.random() * _ACTIVITY_MAX < activity:
                self._enter_phase(0, now)
                return True
            self.next_change = self._next_candidate(now)
            return False
        if self.phase + 1 < len(self.spec.phases):
            self._enter_phase(self.phase + 1, now)
            return False
        self.phase = -1
        self.power_w = 0.0
        self.next_change = self._next_candidate(now)
        return False


@dataclass(frozen=True, slots=True)
class MeterSample:
    """What the meter shows at `time` (epoch s): register in kWh (4 decimals, like Tasmota SML)
    and current power in W (1 decimal)."""

    time: float
    register_kwh: float
    power_w: float


class HouseholdModel:
    """Deterministic household consumption for one sensor.

    Contract:
    * Same `seed`, `index`, `start` and appliance list → the same trajectory, however the time
      axis is cut into `advance_to` calls (power is piecewise constant and integrated exactly
      between its changes; each process draws from its own generator).
    * The register never decreases. It starts at a random meter reading (500-30 000 kWh) plus
      what the household would have used since `REGISTER_EPOCH` at `REGISTER_HEADROOM` times
      its expected mean power (`expected_mean_power_w`). So a simulation restarted with the
      same seed usually continues above where the previous run stopped, instead of jumping back
      (which a server would take for a meter replacement). Not guaranteed: a short run in which
      big appliances ran can end above the restarted value. With `register_kwh` (the sensor's
      last stored reading) the register starts exactly there instead.
    * Power = base load (100-300 W, random walk of a few W per minute) + fridge (80-120 W,
      about 20 min on / 40 min off) + appliances from `APPLIANCES`, started at random
      (Poisson, more often in the morning and evening of household time UTC+1). Power is always
      at least 100 W and stays below 15 kW.
    * Times earlier than the model's time are ignored (the register cannot run backwards).
    """

    BASE_MIN_W: ClassVar[float] = 100.0
    BASE_MAX_W: ClassVar[float] = 300.0
    DRIFT_STEP_S: ClassVar[float] = 60.0
    DRIFT_SIGMA_W: ClassVar[float] = 4.0
    FRIDGE_ON_S: ClassVar[tuple[float, float]] = (17 * 60.0, 23 * 60.0)
    FRIDGE_OFF_S: ClassVar[tuple[float, float]] = (35 * 60.0, 45 * 60.0)

    def __init__(
        self,
        *,
        seed: int,
        index: int,
        start: float,
        appliances: Sequence[ApplianceSpec] = APPLIANCES,
        register_kwh: float | None = None,
    ) -> None:
        root = _make_rng("energyleaf-simulator", seed, index)
        self._time = start
        meter_at_epoch = root.uniform(500.0, 30_000.0)
        self._base_rng = _make_rng(seed, index, "base")
        self._fridge_rng = _make_rng(seed, index, "fridge")
        self._base_w = self._base_rng.uniform(120.0, 280.0)
        self._base_next = start + self.DRIFT_STEP_S
        self._fridge_w = self._fridge_rng.uniform(80.0, 120.0)
        self._fridge_on = self._fridge_rng.random() < 1 / 3
        durations = self.FRIDGE_ON_S if self._fridge_on else self.FRIDGE_OFF_S
        self._fridge_next = start + self._fridge_rng.uniform(0.0, durations[1])
        self._appliances = [
            _Appliance(spec, _make_rng(seed, index, "appliance", spec.name), start)
            for spec in appliances
        ]
        self.expected_mean_power_w = (
            (self.BASE_MIN_W + self.BASE_MAX_W) / 2
            + self._fridge_w
            * _mean(self.FRIDGE_ON_S)
            / (_mean(self.FRIDGE_ON_S) + _mean(self.FRIDGE_OFF_S))
            + sum(spec.mean_power_w for spec in appliances)
        )
        """Long-run mean power of this household in W."""
        since_epoch_h = max(0.0, start - REGISTER_EPOCH) / 3600.0
        self._energy_kwh = round(
            meter_at_epoch + REGISTER_HEADROOM * self.expected_mean_power_w * since_epoch_h / 1000,
            4,
        )
        if register_kwh is not None:
            self._energy_kwh = register_kwh
        self.appliance_starts: Counter[str] = Counter()
        """Runs started per appliance name since the model was created."""
        self.fridge_cycles = 0

    @property
    def time(self) -> float:
        """The model's current time (epoch seconds)."""
        return self._time

    @property
    def register_kwh(self) -> float:
        """The unrounded cumulative energy in kWh."""
        return self._energy_kwh

    @property
    def power_w(self) -> float:
        """The power drawn now, in W."""
        fridge = self._fridge_w if self._fridge_on else 0.0
        return self._base_w + fridge + sum(appliance.power_w for appliance in self._appliances)

    @property
    def running_appliances(self) -> list[str]:
        """Names of the appliances running now."""
        return [appliance.spec.name for appliance in self._appliances if appliance.phase >= 0]

    def _integrate_to(self, moment: float) -> None:
        self._energy_kwh += self.power_w * (moment - self._time) / 3_600_000.0
        self._time = moment

    def _drift_base(self) -> None:
        value = self._base_w + self._base_rng.gauss(0.0, self.DRIFT_SIGMA_W)
        if value < self.BASE_MIN_W:
            value = 2 * self.BASE_MIN_W - value
        if value > self.BASE_MAX_W:
            value = 2 * self.BASE_MAX_W - value
        self._base_w = min(max(value, self.BASE_MIN_W), self.BASE_MAX_W)

    def advance_to(self, moment: float) -> None:
        """Run the model up to `moment` (epoch seconds), applying every change on the way."""
        if not moment > self._time:
            return
        while True:
            upcoming = min(
                self._base_next,
                self._fridge_next,
                *(appliance.next_change for appliance in self._appliances),
            )
            if upcoming > moment:
                self._integrate_to(moment)
                return
            self._integrate_to(upcoming)
            if self._base_next <= upcoming:
                self._drift_base()
                self._base_next = upcoming + self.DRIFT_STEP_S
            if self._fridge_next <= upcoming:
                self._fridge_on = not self._fridge_on
                self.fridge_cycles += int(self._fridge_on)
                durations = self.FRIDGE_ON_S if self._fridge_on else self.FRIDGE_OFF_S
                self._fridge_next = upcoming + self._fridge_rng.uniform(*durations)
            for appliance in self._appliances:
                if appliance.next_change <= upcoming and appliance.change(upcoming):
                    self.appliance_starts[appliance.spec.name] += 1

    def sample(self, moment: float) -> MeterSample:
        """Advance to `moment` and return the meter display there."""
        self.advance_to(moment)
        return MeterSample(
            time=self._time,
            register_kwh=round(self._energy_kwh, 4),
            power_w=round(self.power_w, 1),
        )


# --- response decoding ---------------------------------------------------------------------------


class ProtocolError(ValueError):
    """An answer body that is not the protobuf message the endpoint must answer with."""


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """A decoded TokenResponse; absent optional fields are None."""

    status: int
    status_message: str | None
    access_token: str | None
    expires_in: int | None
    script: str | None
    analog_rotation_per_kwh: int | None


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """A decoded SensorDataResponse or ScriptAcceptedResponse (status 0 = empty body)."""

    status: int
    status_message: str | None


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """A decoded SensorDataBatchResponse."""

    status: int
    status_message: str | None
    accepted: int
    duplicates: int
    rejected: int
    results: tuple[BatchItemResultData, ...]


def _parse(message: Message, body: bytes) -> None:
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise ProtocolError(str(exc)) from exc


def _optional_text(message: Message, name: str) -> str | None:
    value = getattr(message, name)
    return str(value) if message.HasField(name) else None


def decode_token_response(body: bytes) -> TokenAnswer:
    """Decode a `/api/v1/token` answer; raises ProtocolError if it is not a TokenResponse."""
    message = pb.TokenResponse()
    _parse(message, body)
    return TokenAnswer(
        status=message.status,
        status_message=_optional_text(message, "status_message"),
        access_token=_optional_text(message, "access_token"),
        expires_in=message.expires_in if message.HasField("expires_in") else None,
        script=_optional_text(message, "script"),
        analog_rotation_per_kwh=(
            message.analog_rotation_per_kwh if message.HasField("analog_rotation_per_kwh") else None
        ),
    )


def decode_status_response(body: bytes) -> StatusAnswer:
    """Decode a SensorDataResponse or ScriptAcceptedResponse (same layout)."""
    message = pb.SensorDataResponse()
    _parse(message, body)
    return StatusAnswer(message.status, _optional_text(message, "status_message"))


def decode_batch_response(body: bytes) -> BatchAnswer:
    """Decode a `/api/v1/sensor_input/batch` answer."""
    message = batch_pb.SensorDataBatchResponse()
    _parse(message, body)
    return BatchAnswer(
        status=message.status,
        status_message=_optional_text(message, "status_message"),
        accepted=message.accepted,
        duplicates=message.duplicates,
        rejected=message.rejected,
        results=tuple(
            BatchItemResultData(
                index=item.index,
                status=item.status,
                status_message=_optional_text(item, "status_message"),
            )
            for item in message.results
        ),
    )


def classify_status(status: int, message: str | None) -> Outcome:
    """Map an effective status (HTTP or body) to the outcome of a reading (module docstring)."""
    if 200 <= status <= 299:
        return "duplicate" if message == DUPLICATE_MESSAGE else "accepted"
    if status == 401:
        return "unauthorized"
    if 400 <= status <= 499 and status not in _RETRYABLE_CLIENT_ERRORS:
        return "refused"
    return "failed"


# --- transport -----------------------------------------------------------------------------------


class TransportError(Exception):
    """A request got no HTTP answer.

    `request_sent` tells whether the whole request had been written, i.e. whether the server may
    have processed it although no answer arrived.
    """

    def __init__(self, reason: str, *, request_sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_sent = request_sent


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP answer as a device sees it.

    `extra_chunks` is a best-effort check: the body came in more than one chunk (the Tasmota
    driver reads only the first one).
    """

    status: int
    body: bytes
    chunked: bool
    extra_chunks: bool
    content_type: str
    batch_max: int | None = None
    """The server's advertised batch limit (`X-Energyleaf-Batch-Max`), if any."""


def _peer_closed(sock: socket.socket) -> bool:
    """Tell whether an idle kept-alive socket became readable, i.e. the server closed it (or
    sent something unasked); such a connection must not be reused."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class HttpTransport:
    """One kept-alive HTTP/1.1 connection to the server, like a device's HTTP client.

    Before reusing an idle connection it checks whether the server closed it (as the ESP8266
    HTTPClient does) and then opens a new one; requests are never repeated behind the caller's
    back. After a connection error, new connection attempts wait a short exponential backoff
    (`BACKOFF_BASE_S` doubling up to `BACKOFF_MAX_S`, on the injected clock); `backing_off()`
    tells callers to skip the attempt. Not thread-safe: one transport per client thread.
    """

    def __init__(
        self,
        base_url: str,
        *,
        clock: Clock,
        timeout: float = 30.0,
        user_agent: str = "Energyleaf-Simulator",
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._clock = clock
        self._timeout = timeout
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": user_agent}
        self._connection: http.client.HTTPConnection | None = None
        self._failures = 0
        self._retry_at = -math.inf
        self.connects = 0
        """Connections opened so far."""

    def backing_off(self) -> bool:
        """True while connection attempts wait after a connection error."""
        return self._connection is None and self._clock.monotonic() < self._retry_at

    def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _fail(self) -> None:
        self.close()
        self._failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(self._failures - 1, 16))
        self._retry_at = self._clock.monotonic() + delay

    def _connect(self) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is not None:
            sock = connection.sock
            if sock is None or _peer_closed(sock):
                self.close()
                connection = None
        if connection is None:
            if self.backing_off():
                raise TransportError("backoff", request_sent=False)
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._timeout,
                    context=ssl.create_default_context(),
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            try:
                connection.connect()
            except OSError as exc:
                connection.close()
                self._fail()
                raise TransportError(f"connect: {type(exc).__name__}", request_sent=False) from exc
            self._connection = connection
            self.connects += 1
        return connection

    def post(self, path: str, body: bytes) -> HttpAnswer:
        """POST `body` to `path` (below the base URL's path) and read the whole answer.

        Raises TransportError when no complete HTTP answer arrives.
        """
        connection = self._connect()
        try:
            connection.request("POST", self._prefix + path, body=body, headers=self._headers)
        except (OSError, http.client.HTTPException) as exc:
            self._fail()
            raise TransportError(f"send: {type(exc).__name__}", request_sent=False) from exc
        try:
            response = connection.getresponse()
            chunked = "chunked" in (response.getheader("Transfer-Encoding") or "").lower()
            if chunked:
                first = response.read1()
                rest = response.read()
                payload, extra_chunks = first + rest, bool(rest)
            else:
                payload, extra_chunks = response.read(), False
        except (OSError, http.client.HTTPException) as exc:
            self._fail()
            raise TransportError(f"receive: {type(exc).__name__}", request_sent=True) from exc
        self._failures = 0
        if response.will_close:
            self.close()
        batch_max = (response.getheader(BATCH_MAX_HEADER) or "").strip()
        return HttpAnswer(
            status=response.status,
            body=payload,
            chunked=chunked,
            extra_chunks=extra_chunks,
            content_type=response.getheader("Content-Type") or "",
            batch_max=int(batch_max) if batch_max.isdigit() and int(batch_max) > 0 else None,
        )


# --- counting ------------------------------------------------------------------------------------


@dataclass(slots=True)
class StyleCounters:
    """Counters of one client style (see the module docstring for the two identities)."""

    clients: int = 0
    readings: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    unauthorized: int = 0
    failed: int = 0
    buffered: int = 0
    resent: int = 0
    resent_accepted: int = 0
    lost_by_client: int = 0
    pending: int = 0
    token_requests: int = 0
    tokens_received: int = 0
    scripts_received: int = 0
    scripts_confirmed: int = 0
    connects: int = 0
    client_errors: int = 0
    refused_reasons: Counter[str] = field(default_factory=Counter)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    token_failures: Counter[str] = field(default_factory=Counter)
    protocol_errors: Counter[str] = field(default_factory=Counter)

    def merge(self, other: StyleCounters) -> None:
        """Add `other`'s counts to these."""
        for name in _INT_COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _REASON_COUNTERS:
            getattr(self, name).update(getattr(other, name))

    def inconsistencies(self) -> list[str]:
        """The identities of the module docstring that do not hold (empty when all add up)."""
        problems = []
        finals = self.accepted + self.duplicates + self.refused + self.lost_by_client
        if self.readings != finals + self.pending:
            problems.append(
                f"readings {self.readings} != accepted + duplicates + refused + lost_by_client"
                f" + pending = {finals + self.pending}"
            )
        outcomes = self.accepted + self.duplicates + self.refused + self.unauthorized + self.failed
        if self.sent != outcomes:
            problems.append(
                f"sent {self.sent} != accepted + duplicates + refused + unauthorized + failed"
                f" = {outcomes}"
            )
        if self.refused != sum(self.refused_reasons.values()):
            problems.append("refused does not match its reasons")
        if self.failed != sum(self.failure_reasons.values()):
            problems.append("failed does not match its reasons")
        return problems

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _INT_COUNTERS}
        for name in _REASON_COUNTERS:
            data[name] = dict(sorted(getattr(self, name).items()))
        return data


_REASON_COUNTERS: Final = (
    "refused_reasons",
    "failure_reasons",
    "token_failures",
    "protocol_errors",
)
_INT_COUNTERS: Final = tuple(
    name for name in StyleCounters.__dataclass_fields__ if name not in _REASON_COUNTERS
)


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading the server answered 2xx for (`duplicate`: it had it already).

    `time_ns` is the reading's time in ns since the epoch (a multiple of 1000: readings are taken
    with microsecond resolution). With `timestamped` the server got exactly this time; without,
    the server stored its own receive time, shortly after `time_ns`.
    """

    client_id: str
    time_ns: int
    value_kwh: float
    timestamped: bool
    duplicate: bool


@dataclass(frozen=True, slots=True)
class UncertainReading:
    """A reading whose transmission broke after it was sent (or got an undecodable 2xx): the
    server may have stored it although the client counted it as failed."""

    client_id: str
    time_ns: int
    value_kwh: float
    timestamped: bool


@dataclass(slots=True)
class SimulationSummary:
    """Result of a run: counters per style and the readings the server confirmed.

    `stored` lists every reading answered 2xx (accepted or duplicate), `maybe_stored` the
    readings whose answer was lost. For a reliability check against the database: every
    `stored` reading must be in the database exactly once, and every database row of these
    sensors must be a `stored` or `maybe_stored` reading.
    """

    url: str
    style: Style
    count: int
    seed: int
    started_at: float
    stopped_at: float
    counters: dict[str, StyleCounters]
    stored: list[StoredReading] = field(default_factory=list)
    maybe_stored: list[UncertainReading] = field(default_factory=list)

    def accepted_keys(self, *, include_duplicates: bool = False) -> set[tuple[str, int]]:
        """(client_id, reading time in ns) of the readings the server accepted as new."""
        return {
            (reading.client_id, reading.time_ns)
            for reading in self.stored
            if include_duplicates or not reading.duplicate
        }

    def inconsistencies(self) -> list[str]:
        """Counter identities that do not hold, prefixed with their style."""
        return [
            f"{style}: {problem}"
            for style, counters in self.counters.items()
            for problem in counters.inconsistencies()
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (times as ISO 8601 UTC and epoch seconds)."""
        return {
            "url": self.url,
            "style": self.style,
            "count": self.count,
            "seed": self.seed,
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(self.stopped_at),
            "elapsed_s": round(self.stopped_at - self.started_at, 3),
            "counters": {style: counters.to_dict() for style, counters in self.counters.items()},
            "consistent": not self.inconsistencies(),
            "stored": [
                {
                    "client_id": reading.client_id,
                    "time_ns": reading.time_ns,
                    "value_kwh": reading.value_kwh,
                    "timestamped": reading.timestamped,
                    "duplicate": reading.duplicate,
                }
                for reading in self.stored
            ],
            "maybe_stored": [
                {
                    "client_id": reading.client_id,
                    "time_ns": reading.time_ns,
                    "value_kwh": reading.value_kwh,
                    "timestamped": reading.timestamped,
                }
                for reading in self.maybe_stored
            ],
        }

    def to_json(self) -> str:
        """`to_dict()` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def format_text(self) -> str:
        """A few human-readable lines for the console."""
        lines = [
            f"Simulated {self.count} {self.style} sensor(s) against {self.url} for "
            f"{self.stopped_at - self.started_at:.1f} s (seed {self.seed})."
        ]
        for style, c in self.counters.items():
            lines.append(
                f"{style}: readings {c.readings}; sent {c.sent} = accepted {c.accepted} + "
                f"duplicates {c.duplicates} + refused {c.refused} + unauthorized "
                f"{c.unauthorized} + failed {c.failed}"
            )
            lines.append(
                f"  buffered {c.buffered}, resent {c.resent} (accepted {c.resent_accepted}), "
                f"lost by client {c.lost_by_client}, pending {c.pending}"
            )
            lines.append(
                f"  tokens {c.tokens_received}/{c.token_requests}, scripts received "
                f"{c.scripts_received}, confirmed {c.scripts_confirmed}, connections "
                f"{c.connects}, client errors {c.client_errors}"
            )
            for title, reasons in (
                ("refused", c.refused_reasons),
                ("failed", c.failure_reasons),
                ("token failures", c.token_failures),
                ("protocol errors", c.protocol_errors),
            ):
                if reasons:
                    text = ", ".join(f"{reason} x{n}" for reason, n in reasons.most_common())
                    lines.append(f"  {title}: {text}")
        problems = self.inconsistencies()
        lines.append("Counters add up." if not problems else "INCONSISTENT: " + "; ".join(problems))
        return "\n".join(lines)


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat()


# --- configuration -------------------------------------------------------------------------------


def client_id_for(prefix: str, index: int) -> str:
    """The MAC of sensor `index`: `prefix` (four octets) plus the index as two octets.

    >>> client_id_for("5C:CF:7F:00", 1)
    '5C:CF:7F:00:00:01'
    """
    octets = prefix.upper().split(":")
    if len(octets) != 4 or not all(
        len(octet) == 2 and all(c in "0123456789ABCDEF" for c in octet) for octet in octets
    ):
        raise ValueError(f"client id prefix must be four hex octets like 5C:CF:7F:00: {prefix!r}")
    if not 0 <= index <= 0xFFFF:
        raise ValueError(f"sensor index must be 0..65535, got {index}")
    return f"{':'.join(octets)}:{index >> 8:02X}:{index & 0xFF:02X}"


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Parameters of a simulation (times in seconds of the simulation clock).

    `token_retry_s` defaults to 30 s, cut to twice the interval for short intervals.
    `startup_spread_s` spreads the clients' first actions (deterministically per seed) so that
    hundreds of sensors do not start in the same instant; it defaults to min(interval, 10 s).
    `live_timestamps` makes every reading carry its time (real clients send live readings
    without one); use it for an exact comparison with the database.
    """

    base_url: str = "http://127.0.0.1:8000"
    style: Style = "tasmota"
    count: int = 1
    interval_s: float = 15.0
    duration_s: float | None = None
    client_id_prefix: str = "5C:CF:7F:00"
    first_index: int = 1
    seed: int = 0
    resync_interval_s: float = 3600.0
    live_timestamps: bool = False
    first_boot_need_script: bool = True
    buffer_limit: int = 1_000_000
    batch_size: int = 10_000
    timeout_s: float = 30.0
    token_retry_s: float | None = None
    startup_spread_s: float | None = None
    start_registers: Mapping[str, float] = field(default_factory=dict)
    """Register (kWh) each client_id starts from, e.g. its last stored reading (`--register`):
    the simulated meter then continues where the stored history ends instead of jumping."""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        for name in ("interval_s", "resync_interval_s", "timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError("duration must be positive")
        if self.buffer_limit < 1 or self.batch_size < 1:
            raise ValueError("buffer_limit and batch_size must be at least 1")
        client_id_for(self.client_id_prefix, self.first_index)
        client_id_for(self.client_id_prefix, self.first_index + self.count - 1)
        urlsplit_ok = urlsplit(self.base_url)
        if urlsplit_ok.scheme not in ("http", "https") or not urlsplit_ok.hostname:
            raise ValueError(f"expected an http(s) URL, got {self.base_url!r}")

    @property
    def token_retry(self) -> float:
        """Seconds between token attempts of an inactive Tasmota client."""
        if self.token_retry_s is not None:
            return self.token_retry_s
        return min(TASMOTA_TOKEN_RETRY_S, 2 * self.interval_s)

    @property
    def startup_spread(self) -> float:
        """Largest delay of a client's first action."""
        if self.startup_spread_s is not None:
            return self.startup_spread_s
        return min(self.interval_s, 10.0)

    def sensors(self) -> list[tuple[int, str]]:
        """(index, client_id) of every simulated sensor."""
        return [
            (index, client_id_for(self.client_id_prefix, index))
            for index in range(self.first_index, self.first_index + self.count)
        ]


# --- clients -------------------------------------------------------------------------------------


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

    def _token_lifetime(self, answer: TokenAnswer) -> float:
        raise NotImplementedError

    def _request_token(self) -> TokenAnswer | None:
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
        except ProtocolError:
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
        except ProtocolError:
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

    def _token_lifetime(self, answer: TokenAnswer) -> float:
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

    def _token_lifetime(self, answer: TokenAnswer) -> float:
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
        except ProtocolError:
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

    def _settle_batch(self, chunk: list[_Reading], answer: BatchAnswer) -> Outcome | None:
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


# --- simulation ----------------------------------------------------------------------------------


class Simulation:
    """`config.count` clients, one thread each, until `duration_s` passes or `stop()` is called.

    `run()` blocks; a KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one by the caller) stops
    it cleanly. After the run every thread has been joined (each waits at most the HTTP
    timeout), and `summary()` merges the clients' counters.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock: Clock | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.stop_event = stop_event or threading.Event()
        self.clients: list[SensorClient] = []
        self._threads: list[threading.Thread] = []
        self._started_at: float | None = None
        self._stopped_at: float | None = None

    def start(self) -> None:
        """Create the clients and start their threads (spread over `startup_spread`)."""
        if self._threads:
            raise RuntimeError("the simulation was started already")
        self._started_at = self.clock.time()
        spread = _make_rng("energyleaf-simulator-start", self.config.seed)
        for index, _client_id in self.config.sensors():
            client = create_client(self.config, index, clock=self.clock, stop=self.stop_event)
            delay = spread.uniform(0.0, self.config.startup_spread)
            thread = threading.Thread(
                target=client.run,
                args=(delay,),
                name=f"simulated-sensor-{client.client_id}",
                daemon=True,
            )
            self.clients.append(client)
            self._threads.append(thread)
            thread.start()
        logger.info(
            "simulator.started style=%s count=%d url=%s",
            self.config.style,
            self.config.count,
            self.config.base_url,
        )

    def stop(self) -> None:
        """Ask every client to stop (returns at once)."""
        self.stop_event.set()

    def wait(self) -> None:
        """Block until the duration has passed or the stop event is set."""
        start = self.clock.monotonic()
        while not self.stop_event.is_set():
            if self.config.duration_s is None:
                self.clock.sleep(1.0, self.stop_event)
                continue
            remaining = self.config.duration_s - (self.clock.monotonic() - start)
            if remaining <= 0:
                break
            self.clock.sleep(min(remaining, 1.0), self.stop_event)

    def join(self) -> None:
        """Stop and wait for every client thread."""
        self.stop()
        deadline = time.monotonic() + self.config.timeout_s + 5.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("simulator.thread_still_running name=%s", thread.name)
        if self._stopped_at is None:
            self._stopped_at = self.clock.time()
        logger.info("simulator.stopped style=%s", self.config.style)

    def run(self) -> SimulationSummary:
        """Start, wait for the duration (or Ctrl-C), stop, join; return the summary."""
        try:
            self.start()
            self.wait()
        except KeyboardInterrupt:
            logger.info("simulator.interrupted")
        finally:
            self.join()
        return self.summary()

    def summary(self) -> SimulationSummary:
        """Counters and confirmed readings of every client so far."""
        counters = StyleCounters()
        stored: list[StoredReading] = []
        maybe_stored: list[UncertainReading] = []
        for client in self.clients:
            counters.merge(client.counters)
            stored.extend(client.stored)
            maybe_stored.extend(client.maybe_stored)
        started = self._started_at if self._started_at is not None else self.clock.time()
        stopped = self._stopped_at if self._stopped_at is not None else self.clock.time()
        return SimulationSummary(
            url=self.config.base_url,
            style=self.config.style,
            count=self.config.count,
            seed=self.config.seed,
            started_at=started,
            stopped_at=stopped,
            counters={self.config.style: counters},
            stored=stored,
            maybe_stored=maybe_stored,
        )


# --- registration (needs Django) -----------------------------------------------------------------


@dataclass(slots=True)
class RegistrationResult:
    """What `register_simulated_sensors` did, by client_id."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def simulated_user_email(index: int) -> str:
    """The household user of simulated sensor `index`."""
    return f"sim-{index}@energyleaf.local"


def register_simulated_sensors(
    *, sensors: Sequence[tuple[int, str]], script: str = SIMULATOR_SCRIPT
) -> RegistrationResult:
    """Register each (index, client_id) for household user `sim-<index>@energyleaf.local`.

    Needs a configured Django. Existing sensors (any letter case) are skipped untouched; missing
    users are created without a password. Each sensor is registered in its own transaction, so
    one failure (e.g. the user has an electricity sensor with another MAC already) is reported in
    `failed` and does not undo the others. New sensors get `script` and must receive it.
    """
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from energyleaf.users import selectors as user_selectors
    from energyleaf.users import services as user_services
    from sensors import services as sensor_services
    from sensors.models import Sensor

    result = RegistrationResult()
    for index, client_id in sensors:
        if Sensor.objects.filter(client_id__iexact=client_id).exists():
            result.existing.append(client_id)
            continue
        email = simulated_user_email(index)
        try:
            with transaction.atomic():
                user = user_selectors.users_by_email(email=email).first()
                if user is None:
                    user = user_services.user_create(email=email)
                    created_user = True
                else:
                    created_user = False
                sensor_services.sensor_register(client_id=client_id, user=user, script=script)
        except ValidationError as exc:
            result.failed[client_id] = "; ".join(exc.messages)
            continue
        if created_user:
            result.users_created.append(email)
        result.created.append(client_id)
    return result


def stored_registers(*, client_ids: Sequence[str]) -> dict[str, float]:
    """The register (kWh) of each sensor's newest stored reading, by client_id as given (sensors
    without readings are left out). Needs a configured Django."""
    from sensors.selectors import sensor_latest_registers

    latest = sensor_latest_registers(client_ids=client_ids)
    return {
        client_id: float(latest[client_id.upper()])
        for client_id in client_ids
        if client_id.upper() in latest
    }
