"""Simulated household days as the platform sees them, with ground-truth appliance runs.

A household's power (W, 1 Hz) is the sum of

* a base load (60-250 W) with slow drift (a few sinusoids of 4-30 h period) and small noise;
* fridge cycling (always) and freezer cycling (most households) from the allowlisted
  REFRIGERATOR and FREEZER antgen models, one device per household, a random mode per cycle;
* appliance runs of the other allowlisted categories at plausible hours of the day, one device
  per category and household, some deliberately overlapping another run;
* loads the classifier has no category for (unlabelled): a TV-like constant ~100 W for about an
  hour and, on some days, a heater-like 1.2-2 kW for 10-30 minutes.

The meter reports the cumulative register in kWh floored to 0.0001 kWh (0.1 Wh) about every 15 s
(± jitter), and some pushes are lost. Outputs: reading instants (int64 ns since the epoch, UTC),
the register (kWh), the consumption since the previous received reading (kWh; NaN for the first)
and the ground-truth runs with aware UTC bounds.

Everything is drawn from one seeded numpy Generator, so a seed gives the same household. Pure:
no Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from simulation.appliances import (
    ApplianceModel,
    load_allowlisted_models,
    models_by_category,
    render_cycle,
)
from simulation.meter import J_PER_KWH, REGISTER_DECIMALS

_NS_PER_S = 1_000_000_000
# Register resolution: 0.0001 kWh = 0.1 Wh, as the live meter's.
REGISTER_UNITS_PER_KWH = 10**REGISTER_DECIMALS
CYCLING_CATEGORIES = frozenset({"fridge", "freezer"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Activity:
    """How often a category runs: Poisson `mean_runs_per_day`, start hours [lo, hi) local = UTC.

    `duration_scale` (lo, hi) stretches the model's cycle (e.g. a cooking session is longer than
    one stovetop cycle).
    """

    category: str
    mean_runs_per_day: float
    hours: tuple[tuple[float, float], ...]
    duration_scale: tuple[float, float] = (1.0, 1.0)


DEFAULT_ACTIVITIES: tuple[Activity, ...] = (
    Activity("kettle", 2.0, ((6, 9), (12, 14), (15, 18), (19, 22))),
    Activity("coffeeMachine", 1.0, ((6, 10), (13, 16))),
    Activity("toaster", 0.4, ((6, 10),)),
    Activity("microwave", 1.0, ((11, 14), (17, 21))),
    Activity("stovetop", 0.8, ((11, 13), (17, 20)), (1.0, 3.0)),
    Activity("washingMachine", 0.5, ((8, 19),)),
    Activity("dryer", 0.2, ((10, 19),)),
    Activity("dishwasher", 0.6, ((12, 15), (19, 22))),
    Activity("vacuumCleaner", 0.25, ((9, 18),)),
    Activity("iron", 0.15, ((9, 21),)),
    Activity("tvsAndMonitors", 0.8, ((18, 23),)),
    Activity("entertainmentAndComputers", 1.0, ((8, 23),)),
)
# Short appliances that may be started while another run is going on.
_OVERLAPPERS = ("kettle", "microwave", "toaster", "coffeeMachine")


@dataclass(frozen=True)
class PlannedRun:
    """An appliance run placed by hand: allowlisted model `path`, start `offset_s` (s) into the
    simulation, optional cycle `duration_s` (s) and no jitter when `exact`."""

    path: str
    offset_s: int
    duration_s: int | None = None
    exact: bool = False


@dataclass(frozen=True)
class HouseholdConfig:
    """Simulation parameters. Powers in W, durations and intervals in s.

    `activities`: random appliance use; `planned`: extra runs placed by hand; `fridge`,
    `freezer_probability`: cycling appliances; `unlabelled`: the TV-like and heater-like loads;
    `overlap_probability`: chance that a run gets a short appliance started during it;
    `base_load_w`: range of the household's mean base load; `drift_w`: amplitude of its slow
    drift; `noise_w`: per-second noise; `push_interval_s` ± `push_jitter_s`: meter pushes;
    `lost_push_probability`: chance that a push never arrives; `power_jitter`,
    `duration_jitter`: variation of appliance runs (see `render_cycle`), larger values stand in
    for other brands of the same appliance.
    """

    activities: tuple[Activity, ...] = DEFAULT_ACTIVITIES
    planned: tuple[PlannedRun, ...] = ()
    fridge: bool = True
    freezer_probability: float = 0.6
    unlabelled: bool = True
    overlap_probability: float = 0.15
    base_load_w: tuple[float, float] = (60.0, 250.0)
    drift_w: float = 25.0
    noise_w: float = 2.0
    push_interval_s: float = 15.0
    push_jitter_s: float = 2.0
    lost_push_probability: float = 0.02
    power_jitter: float = 0.05
    duration_jitter: float = 0.1


@dataclass(frozen=True)
class Run:
    """One load in the simulation (ground truth).

    `category` is the reference category key, None for an unlabelled load; `source` the antgen
    model path or the synthetic load's name. `start`/`end` are aware UTC (end exclusive, whole
    seconds); `energy_kwh` the run's own energy (kWh) and `mean_power_w` its own mean power (W),
    both on top of everything else; `power_w` its own power (W) per second from `start`.
    """

    category: str | None
    source: str
    start: datetime
    end: datetime
    energy_kwh: float
    mean_power_w: float
    # The run's own power (W) per second from `start`; not part of equality.
    power_w: npt.NDArray[np.float64] | None = field(default=None, compare=False, repr=False)

    @property
    def labelled(self) -> bool:
        """Whether the run belongs to a category the classifier may know."""
        return self.category is not None


@dataclass(frozen=True)
class SimulatedHousehold:
    """A simulated household over `seconds` s from `start` (aware UTC, midnight).

    `power_w`/`base_w`: total and base power (W) per second; `timestamps_ns`: received readings
    (int64 ns since the epoch, UTC); `register_kwh`: the meter register (kWh, 0.0001 kWh steps);
    `consumption_kwh`: register increase since the previous received reading (kWh, NaN first);
    `runs`: every load but the base load, ordered by start.
    """

    start: datetime
    seconds: int
    power_w: npt.NDArray[np.float64]
    base_w: npt.NDArray[np.float64]
    timestamps_ns: npt.NDArray[np.int64]
    register_kwh: npt.NDArray[np.float64]
    consumption_kwh: npt.NDArray[np.float64]
    runs: tuple[Run, ...] = field(default=())

    def at(self, offset_s: float) -> datetime:
        """Aware UTC instant `offset_s` seconds after the start."""
        return self.start + timedelta(seconds=offset_s)


class _Builder:
    def __init__(self, start: datetime, seconds: int, rng: np.random.Generator) -> None:
        self.start = start
        self.seconds = seconds
        self.rng = rng
        self.power = np.zeros(seconds, dtype=np.float64)
        self.runs: list[Run] = []

    def add(
        self, category: str | None, source: str, offset: int, cycle: npt.NDArray[np.float64]
    ) -> Run | None:
        if offset < 0 or offset >= self.seconds:
            return None
        cycle = cycle[: self.seconds - offset]
        self.power[offset : offset + cycle.size] += cycle
        run = Run(
            category=category,
            source=source,
            start=self.start + timedelta(seconds=offset),
            end=self.start + timedelta(seconds=offset + int(cycle.size)),
            energy_kwh=float(cycle.sum()) / J_PER_KWH,
            mean_power_w=float(cycle.mean()),
            power_w=cycle,
        )
        self.runs.append(run)
        return run


def _devices(models: Sequence[ApplianceModel]) -> dict[str, tuple[ApplianceModel, ...]]:
    by_device: dict[str, list[ApplianceModel]] = {}
    for model in models:
        by_device.setdefault(model.device, []).append(model)
    return {device: tuple(modes) for device, modes in by_device.items()}


def _pick_device(
    models: Sequence[ApplianceModel], rng: np.random.Generator
) -> tuple[ApplianceModel, ...]:
    devices = _devices(models)
    names = sorted(devices)
    return devices[names[int(rng.integers(len(names)))]]


def _pick(modes: Sequence[ApplianceModel], rng: np.random.Generator) -> ApplianceModel:
    return modes[int(rng.integers(len(modes)))]


def _cycling(builder: _Builder, modes: Sequence[ApplianceModel], rng: np.random.Generator) -> None:
    """Back-to-back cycles of a fridge or freezer, off in between (duty about 40 %)."""
    offset = int(rng.integers(0, 1800))
    while offset < builder.seconds:
        model = _pick(modes, rng)
        cycle = render_cycle(model, rng)
        builder.add(model.category, model.path, offset, cycle)
        if model.cycles_per_day:
            period_s = 86_400 / model.cycles_per_day
            off_s = max(period_s - cycle.size, 0.5 * cycle.size)
        else:
            off_s = 1.5 * cycle.size
        offset += cycle.size + max(60, round(off_s * float(rng.uniform(0.8, 1.2))))


def _base_load(
    seconds: int, config: HouseholdConfig, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    t = np.arange(seconds, dtype=np.float64)
    level = float(rng.uniform(*config.base_load_w))
    base = np.full(seconds, level)
    weights = rng.dirichlet(np.ones(3))
    for weight in weights:
        period_s = float(rng.uniform(4, 30)) * 3600
        phase = float(rng.uniform(0, 2 * math.pi))
        base += config.drift_w * float(weight) * np.sin(2 * math.pi * t / period_s + phase)
    base += config.noise_w * rng.standard_normal(seconds)
    clipped: npt.NDArray[np.float64] = np.maximum(base, 5.0)
    return clipped


def _start_offset(
    day: int, hours: tuple[tuple[float, float], ...], rng: np.random.Generator
) -> int:
    lo, hi = hours[int(rng.integers(len(hours)))]
    return day * 86_400 + round(float(rng.uniform(lo, hi)) * 3600)


def _register(
    builder: _Builder, config: HouseholdConfig, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Received readings: instants (ns, UTC), register (kWh) and consumption (kWh)."""
    seconds = builder.seconds
    cumulative_kwh = np.concatenate(([0.0], np.cumsum(builder.power) / J_PER_KWH))
    count = int(seconds / (config.push_interval_s - config.push_jitter_s)) + 2
    steps = config.push_interval_s + rng.uniform(-config.push_jitter_s, config.push_jitter_s, count)
    instants_s = float(rng.uniform(0, config.push_interval_s)) + np.concatenate(
        ([0.0], np.cumsum(steps))
    )
    instants_s = instants_s[instants_s <= seconds]
    kept = rng.random(instants_s.size) >= config.lost_push_probability
    kept[0] = True
    instants_s = instants_s[kept]
    energy_kwh = np.interp(instants_s, np.arange(seconds + 1, dtype=np.float64), cumulative_kwh)
    # The register's initial value and its unseen sub-resolution part.
    initial_units = int(rng.integers(10_000_000, 300_000_000))
    fraction = float(rng.random())
    units = initial_units + np.floor(energy_kwh * REGISTER_UNITS_PER_KWH + fraction).astype(
        np.int64
    )
    register_kwh = units / REGISTER_UNITS_PER_KWH
    consumption_kwh = np.concatenate(([np.nan], np.diff(units) / REGISTER_UNITS_PER_KWH))
    start_ns = to_ns(builder.start)
    timestamps_ns = start_ns + np.rint(instants_s * _NS_PER_S).astype(np.int64)
    return timestamps_ns, register_kwh, consumption_kwh


def simulate_household(
    start: datetime,
    days: int,
    seed: int,
    config: HouseholdConfig | None = None,
) -> SimulatedHousehold:
    """Simulate `days` days of one household from `start` (aware UTC), seeded by `seed`."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if days < 1:
        raise ValueError("days must be >= 1")
    config = config or HouseholdConfig()
    start = start.astimezone(UTC)
    rng = np.random.default_rng(seed)
    seconds = days * 86_400
    builder = _Builder(start, seconds, rng)
    grouped = models_by_category()
    household = {category: _pick_device(models, rng) for category, models in grouped.items()}

    if config.fridge:
        _cycling(builder, household["fridge"], rng)
    if rng.random() < config.freezer_probability:
        _cycling(builder, household["freezer"], rng)

    for day in range(days):
        for activity in config.activities:
            for _ in range(int(rng.poisson(activity.mean_runs_per_day))):
                model = _pick(household[activity.category], rng)
                offset = _start_offset(day, activity.hours, rng)
                scale = float(rng.uniform(*activity.duration_scale))
                cycle = render_cycle(
                    model,
                    rng,
                    duration_s=round(model.duration_s * scale),
                    power_jitter=config.power_jitter,
                    duration_jitter=config.duration_jitter,
                )
                run = builder.add(model.category, model.path, offset, cycle)
                if run is not None and rng.random() < config.overlap_probability:
                    other = _pick(household[_OVERLAPPERS[int(rng.integers(4))]], rng)
                    inside = offset + int(rng.integers(0, max(1, cycle.size)))
                    other_cycle = render_cycle(
                        other,
                        rng,
                        power_jitter=config.power_jitter,
                        duration_jitter=config.duration_jitter,
                    )
                    builder.add(other.category, other.path, inside, other_cycle)
        if config.unlabelled:
            if rng.random() < 0.7:
                length = round(float(rng.uniform(2700, 4500)))
                level = float(rng.uniform(90, 110))
                cycle = level * (1 + 0.01 * rng.standard_normal(length))
                builder.add(None, "tvLike", _start_offset(day, ((18, 22),), rng), cycle)
            if rng.random() < 0.3:
                length = round(float(rng.uniform(600, 1800)))
                level = float(rng.uniform(1200, 2000))
                cycle = level * (1 + 0.01 * rng.standard_normal(length))
                builder.add(None, "heaterLike", _start_offset(day, ((6, 23),), rng), cycle)

    by_path = {model.path: model for model in load_allowlisted_models()}
    for planned in config.planned:
        model = by_path[planned.path]
        cycle = render_cycle(model, None if planned.exact else rng, duration_s=planned.duration_s)
        builder.add(model.category, model.path, planned.offset_s, cycle)

    base = _base_load(seconds, config, rng)
    builder.power += base
    timestamps_ns, register_kwh, consumption_kwh = _register(builder, config, rng)
    return SimulatedHousehold(
        start=start,
        seconds=seconds,
        power_w=builder.power,
        base_w=base,
        timestamps_ns=timestamps_ns,
        register_kwh=register_kwh,
        consumption_kwh=consumption_kwh,
        runs=tuple(sorted(builder.runs, key=lambda run: (run.start, run.source))),
    )


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch (UTC) of an aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1_000
