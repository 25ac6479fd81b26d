"""What one household's meter shows, moment by moment: the model behind the live clients.

`HouseholdModel` is event-driven and cheap (one generator per process, no arrays), so hundreds of
simulated sensors can each advance their own household in real time. Its appliances are a small
hand-written list (`APPLIANCES`). For whole household days built from antgen's measured appliance
cycles, with ground truth per run (training and benchmark data), see `simulation.households`.

Pure Python, no Django.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final


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
J_PER_KWH: Final = 3_600_000.0
REGISTER_DECIMALS: Final = 4
"""A meter shows its register in 0.0001 kWh (0.1 Wh) steps, like Tasmota's SML driver; the
simulated households of `simulation.households` use the same resolution."""
REGISTER_EPOCH: Final = 1_577_836_800.0
"""2020-01-01T00:00:00Z: the registers' reference time (see `HouseholdModel`)."""
REGISTER_HEADROOM: Final = 2.0
"""Days in simulation use at most about 1.8 times the mean (measured over 400 household days)."""
HOUSEHOLD_UTC_OFFSET_S: Final = 3600.0
"""Household hours are UTC+1 (CET) throughout; daylight saving time is not modelled."""


def household_hour(epoch_seconds: float) -> int:
    """The household's hour of day (0..23) at `epoch_seconds`."""
    return int(((epoch_seconds + HOUSEHOLD_UTC_OFFSET_S) % 86400) // 3600)


def make_rng(*parts: object) -> random.Random:
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
    """What the meter shows at `time` (epoch s): register in kWh (`REGISTER_DECIMALS` decimals)
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
        root = make_rng("energyleaf-simulator", seed, index)
        self._time = start
        meter_at_epoch = root.uniform(500.0, 30_000.0)
        self._base_rng = make_rng(seed, index, "base")
        self._fridge_rng = make_rng(seed, index, "fridge")
        self._base_w = self._base_rng.uniform(120.0, 280.0)
        self._base_next = start + self.DRIFT_STEP_S
        self._fridge_w = self._fridge_rng.uniform(80.0, 120.0)
        self._fridge_on = self._fridge_rng.random() < 1 / 3
        durations = self.FRIDGE_ON_S if self._fridge_on else self.FRIDGE_OFF_S
        self._fridge_next = start + self._fridge_rng.uniform(0.0, durations[1])
        self._appliances = [
            _Appliance(spec, make_rng(seed, index, "appliance", spec.name), start)
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
        self._energy_kwh += self.power_w * (moment - self._time) / J_PER_KWH
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
            register_kwh=round(self._energy_kwh, REGISTER_DECIMALS),
            power_w=round(self.power_w, 1),
        )
