"""Running a fleet of simulated sensors against a server: one thread per client, a shared stop
event, and the `SimulationSummary` at the end.

Used by `manage.py simulate_sensors` (energyleaf/demo), `dev.py run`, the fault suite and tests.
Needs no database and no Django settings: it talks to any server URL.
"""

from __future__ import annotations

import logging
import threading
import time

from simulation.clients import SensorClient, create_client
from simulation.clocks import Clock, SystemClock
from simulation.config import SimulatorConfig
from simulation.meter import make_rng
from simulation.summary import SimulationSummary, StoredReading, StyleCounters, UncertainReading

logger = logging.getLogger(__name__)


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
        spread = make_rng("energyleaf-simulator-start", self.config.seed)
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
