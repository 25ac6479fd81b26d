"""Simulated household days as the platform sees them, with ground-truth appliance runs.

A household's power (W, 1 Hz) is the sum of

* a base load (60-250 W) with slow drift (a few sinusoids of 4-30 h period) and small noise;
* fridge cycling (always) and freezer cycling (most households) from the allowlisted
  REFRIGERATOR and FREEZER antgen models, one device per household, a random mode per cycle;
* appliance runs of the other allowlisted categories at plausible hours of the day, one device
  per category and household, some deliberately overlapping another run;
* loads the classifier has no category for (unlabelled): a TV-like constant ~100 W for about an
  hour and, on some days, a heater-like 1.2-2 kW for 10-30 minutes (with `more_unlabelled`
  also hair-dryer-, oven-, pump- and space-heater-like loads).

With `device_spread` every household's device of a category is another *device*: its powers are
scaled by a factor drawn from the category's range in `DEVICE_SPREAD` (a 1.8 or a 3 kW kettle),
its cycle lengths by another, and every segment of its programmes is stretched and re-levelled
by its own factor (heater duty cycles, motor phases). A device's position in the two ranges
(`Device.power_u`, `Device.duration_u`, 0-1) is recorded on its runs, so validation can train on
devices scaled away from the one it tests (`DeviceRegion`).

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
from typing import Any

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
class DeviceSpread:
    """Ranges (factors, drawn log-uniformly) of a category's devices: `power` times the recorded
    model's powers, `duration` times its cycle length; `warp` the log-sigma of the per-segment
    length and power factors."""

    power: tuple[float, float]
    duration: tuple[float, float]
    warp: float = 0.25


DEVICE_SPREAD: dict[str, DeviceSpread] = {
    "kettle": DeviceSpread((0.97, 1.65), (0.5, 2.2)),
    "coffeeMachine": DeviceSpread((0.7, 1.7), (0.6, 1.7)),
    "toaster": DeviceSpread((0.9, 2.1), (0.5, 1.6)),
    "microwave": DeviceSpread((0.6, 1.35), (0.6, 3.5)),
    "stovetop": DeviceSpread((0.8, 2.6), (0.6, 1.8)),
    "washingMachine": DeviceSpread((0.8, 1.2), (0.6, 1.7)),
    "dryer": DeviceSpread((0.9, 3.0), (0.5, 1.3)),
    "dishwasher": DeviceSpread((0.8, 1.25), (0.6, 1.5)),
    "vacuumCleaner": DeviceSpread((0.5, 1.7), (0.4, 2.5)),
    "iron": DeviceSpread((0.7, 1.4), (0.6, 2.2)),
    "fridge": DeviceSpread((0.7, 4.5), (0.6, 1.6)),
    "freezer": DeviceSpread((0.7, 6.5), (0.6, 1.6)),
    "tvsAndMonitors": DeviceSpread((0.5, 2.5), (0.7, 1.5)),
    "entertainmentAndComputers": DeviceSpread((0.5, 2.5), (0.7, 1.5)),
}


@dataclass(frozen=True)
class DeviceRegion:
    """Which devices a simulation may draw: positions `power` and `duration` ([lo, hi) within
    0-1, see `Device`) and, when `programmes` is given, only those antgen model paths for the
    categories that have any of them (the others keep all theirs); never the `excluded` paths
    (unless a device would have none left)."""

    power: tuple[float, float] = (0.0, 1.0)
    duration: tuple[float, float] = (0.0, 1.0)
    programmes: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Device:
    """One household's appliance of a category: the recorded `modes` (antgen models of one
    device) made into another device by `power_scale`, `duration_scale` and, per mode path,
    segment length weights and power factors. `power_u`/`duration_u` (0-1) are the scales'
    positions in the category's `DEVICE_SPREAD` ranges (0.5 without spread)."""

    category: str
    modes: tuple[ApplianceModel, ...]
    power_u: float = 0.5
    duration_u: float = 0.5
    power_scale: float = 1.0
    duration_scale: float = 1.0
    fraction_weights: dict[str, tuple[float, ...]] = field(default_factory=dict)
    segment_power: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def render(
        self,
        model: ApplianceModel,
        rng: np.random.Generator,
        *,
        duration_s: int | None = None,
        power_jitter: float,
        duration_jitter: float,
    ) -> npt.NDArray[np.float64]:
        nominal = model.duration_s if duration_s is None else duration_s
        return render_cycle(
            model,
            rng,
            duration_s=max(1, round(nominal * self.duration_scale)),
            power_jitter=power_jitter,
            duration_jitter=duration_jitter,
            power_scale=self.power_scale,
            fraction_weights=self.fraction_weights.get(model.path),
            segment_power=self.segment_power.get(model.path),
        )


def _log_between(bounds: tuple[float, float], u: float) -> float:
    lo, hi = bounds
    return float(lo * (hi / lo) ** u)


def device_make(
    category: str,
    modes: Sequence[ApplianceModel],
    rng: np.random.Generator,
    *,
    spread: bool,
    region: DeviceRegion | None = None,
) -> Device:
    """A household's device of `category` from the recorded `modes` (see `Device`)."""
    region = region or DeviceRegion()
    modes = tuple(m for m in modes if m.path not in region.excluded) or tuple(modes)
    if region.programmes is not None:
        allowed = tuple(m for m in modes if m.path in region.programmes)
        modes = allowed or tuple(modes)
    limits = DEVICE_SPREAD.get(category)
    if not spread or limits is None:
        return Device(category, tuple(modes))
    power_u = region.power[0] + (region.power[1] - region.power[0]) * float(rng.random())
    duration_u = region.duration[0] + (region.duration[1] - region.duration[0]) * float(
        rng.random()
    )
    weights: dict[str, tuple[float, ...]] = {}
    levels: dict[str, tuple[float, ...]] = {}
    for model in modes:
        count = len(model.segments)
        weights[model.path] = tuple(np.exp(limits.warp * rng.standard_normal(count)).tolist())
        levels[model.path] = tuple(np.exp(0.4 * limits.warp * rng.standard_normal(count)).tolist())
    return Device(
        category=category,
        modes=tuple(modes),
        power_u=power_u,
        duration_u=duration_u,
        power_scale=_log_between(limits.power, power_u),
        duration_scale=_log_between(limits.duration, duration_u),
        fraction_weights=weights,
        segment_power=levels,
    )


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
    `duration_jitter`: variation of appliance runs (see `render_cycle`); `device_spread`: every
    household gets other devices (module doc), drawn from `device_region`; `activity_scale`:
    range (log-uniform) of a household's factor on every activity's runs per day (quiet and busy
    households); `more_unlabelled`: more kinds of loads without a category.
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
    device_spread: bool = False
    device_region: DeviceRegion | None = None
    activity_scale: tuple[float, float] = (1.0, 1.0)
    more_unlabelled: bool = False


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
    # The device's position in its category's power and duration ranges (see `Device`).
    device_position: tuple[float, float] | None = None
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
        self,
        category: str | None,
        source: str,
        offset: int,
        cycle: npt.NDArray[np.float64],
        device: Device | None = None,
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
            device_position=None if device is None else (device.power_u, device.duration_u),
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
    models: Sequence[ApplianceModel],
    rng: np.random.Generator,
    programmes: frozenset[str] | None = None,
) -> tuple[ApplianceModel, ...]:
    """One recorded device of a category, at random; with `programmes` (a validation's held-out
    programmes), one of the devices that has any of them, when the category has such a device,
    so that it runs only held-out programmes (`device_make` keeps just those)."""
    devices = _devices(models)
    names = sorted(devices)
    if programmes is not None:
        holding = [name for name in names if any(m.path in programmes for m in devices[name])]
        names = holding or names
    return devices[names[int(rng.integers(len(names)))]]


def _pick(modes: Sequence[ApplianceModel], rng: np.random.Generator) -> ApplianceModel:
    return modes[int(rng.integers(len(modes)))]


def _cycling(builder: _Builder, device: Device, rng: np.random.Generator) -> None:
    """Back-to-back cycles of a fridge or freezer, off in between (duty about 40 %)."""
    offset = int(rng.integers(0, 1800))
    while offset < builder.seconds:
        model = _pick(device.modes, rng)
        cycle = device.render(model, rng, power_jitter=0.05, duration_jitter=0.1)
        builder.add(model.category, model.path, offset, cycle, device)
        if model.cycles_per_day:
            period_s = 86_400 / model.cycles_per_day
            off_s = max(period_s - cycle.size, 0.5 * cycle.size)
        else:
            off_s = 1.5 * cycle.size
        offset += cycle.size + max(60, round(off_s * float(rng.uniform(0.8, 1.2))))


def _more_unlabelled(builder: _Builder, day: int, rng: np.random.Generator) -> None:
    """Loads of no classified category: a hair dryer (fan steps), an oven (thermostat cycling),
    a pump or fan motor, a space heater cycling on its thermostat."""
    if rng.random() < 0.2:
        length = round(float(rng.uniform(180, 720)))
        level = float(rng.uniform(1000, 2200))
        steps = np.repeat(rng.choice([0.5, 1.0], size=length // 60 + 1), 60)[:length]
        cycle = level * steps * (1 + 0.03 * rng.standard_normal(length))
        builder.add(None, "hairDryerLike", _start_offset(day, ((6, 9), (18, 23)), rng), cycle)
    for name, chance, hours, power, minutes in (
        ("ovenLike", 0.15, ((11, 13), (17, 20)), (1800.0, 3200.0), (25.0, 70.0)),
        ("spaceHeaterLike", 0.1, ((6, 23),), (800.0, 2200.0), (30.0, 120.0)),
    ):
        if rng.random() < chance:
            length = round(float(rng.uniform(*minutes)) * 60)
            level = float(rng.uniform(*power))
            period = float(rng.uniform(90, 600))
            duty = float(rng.uniform(0.3, 0.8))
            t = np.arange(length, dtype=np.float64)
            on = ((t / period) % 1.0) < duty
            on[: round(min(length, float(rng.uniform(300, 900))))] = True  # heating up
            cycle = level * on * (1 + 0.01 * rng.standard_normal(length))
            builder.add(None, name, _start_offset(day, hours, rng), cycle)
    if rng.random() < 0.15:
        length = round(float(rng.uniform(300, 2400)))
        level = float(rng.uniform(250, 900))
        ramp = np.minimum(1.0, np.arange(length) / max(1.0, float(rng.uniform(5, 60))))
        cycle = level * ramp * (1 + 0.02 * rng.standard_normal(length))
        builder.add(None, "motorLike", _start_offset(day, ((7, 22),), rng), cycle)


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
    household = {
        category: device_make(
            category,
            _pick_device(
                models, rng, config.device_region.programmes if config.device_region else None
            ),
            rng,
            spread=config.device_spread,
            region=config.device_region,
        )
        for category, models in grouped.items()
    }
    activity = 1.0
    if config.activity_scale != (1.0, 1.0):
        activity = _log_between(config.activity_scale, float(rng.random()))

    if config.fridge:
        _cycling(builder, household["fridge"], rng)
    if rng.random() < config.freezer_probability:
        _cycling(builder, household["freezer"], rng)

    def render(device: Device, model: ApplianceModel, duration_s: int | None = None) -> Any:
        return device.render(
            model,
            rng,
            duration_s=duration_s,
            power_jitter=config.power_jitter,
            duration_jitter=config.duration_jitter,
        )

    for day in range(days):
        for activity_kind in config.activities:
            device = household[activity_kind.category]
            for _ in range(int(rng.poisson(activity_kind.mean_runs_per_day * activity))):
                model = _pick(device.modes, rng)
                offset = _start_offset(day, activity_kind.hours, rng)
                scale = float(rng.uniform(*activity_kind.duration_scale))
                cycle = render(device, model, round(model.duration_s * scale))
                run = builder.add(model.category, model.path, offset, cycle, device)
                if run is not None and rng.random() < config.overlap_probability:
                    other_device = household[_OVERLAPPERS[int(rng.integers(4))]]
                    other = _pick(other_device.modes, rng)
                    inside = offset + int(rng.integers(0, max(1, cycle.size)))
                    builder.add(
                        other.category,
                        other.path,
                        inside,
                        render(other_device, other),
                        other_device,
                    )
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
        if config.more_unlabelled:
            _more_unlabelled(builder, day, rng)

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
