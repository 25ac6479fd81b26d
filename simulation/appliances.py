"""antgen 0.4.1 appliance cycle models: the training allowlist, a restricted loader, a renderer.

antgen (MIT) ships appliance cycle models fitted to the tracebase and ECO data sets as XML files
under `antgen/appliances/<TYPE>/<device>/modeN`: a `<profile duration="…">` (the usual cycle
length in s) holding `<load type="…">` segments, each with a `<duration value="…">` that is a
fraction of the cycle. Segment types and their parameters (powers in W):

* `ON_OFF`: constant `onPower`.
* `LINEAR`: ramp from `startPower` to `endPower`.
* `ON_OFF_DECAY`: exponential decay `activePower + (peakPower - activePower) * exp(-decayRate * x)`
  with x = 0, 1, … s into the segment.
* `ON_OFF_GROWTH`: logarithmic growth `basePower + growthRate * ln(stretchFactor * x)` with
  x = 1, 2, … s into the segment (`stretchFactor` 1 when absent).

Only the models in `TRAIN_ALLOWLIST` may be read (docs/classifier.md, "Training data": the others
are kept for evaluating the project). The XML files are read at run time from the installed package
and never copied. Contains information from the tracebase data set, which is made available at
http://www.tracebase.org under the Open Database License (ODbL).

Pure: no Django.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ANTGEN_VERSION = "0.4.1"

# The antgen models (paths relative to antgen/appliances/) that may be used for training. Must
# equal the data file antgen-train-allowlist.txt beside this module; a test compares them.
TRAIN_ALLOWLIST: tuple[str, ...] = (
    "WASHINGMACHINE/ECO-H1/mode2",
    "WASHINGMACHINE/ECO-H1/mode3",
    "DISHWASHER/dev_995BAC/mode0",
    "DRYER/ECO-H1/mode0",
    "DRYER/ECO-H1/mode1",
    "REFRIGERATOR/ECO-H1/mode0",
    "REFRIGERATOR/ECO-H1/mode1",
    "REFRIGERATOR/ECO-H1/mode4",
    "REFRIGERATOR/ECO-H1/mode5",
    "REFRIGERATOR/ECO-H1/mode6",
    "REFRIGERATOR/ECO-H1/mode7",
    "REFRIGERATOR/ECO-H1/mode8",
    "REFRIGERATOR/dev_76C07F/mode0",
    "REFRIGERATOR/dev_76C07F/mode1",
    "REFRIGERATOR/dev_76C07F/mode2",
    "REFRIGERATOR/dev_76C07F/mode3",
    "REFRIGERATOR/dev_76C07F/mode4",
    "REFRIGERATOR/dev_76C07F/mode5",
    "REFRIGERATOR/dev_76C07F/mode6",
    "REFRIGERATOR/dev_76C07F/mode7",
    "REFRIGERATOR/dev_76C07F/mode8",
    "REFRIGERATOR/dev_76C07F/mode9",
    "REFRIGERATOR/dev_76C07F/mode10",
    "REFRIGERATOR/dev_76C07F/mode11",
    "REFRIGERATOR/dev_76C07F/mode12",
    "REFRIGERATOR/dev_76C07F/mode13",
    "REFRIGERATOR/dev_76C07F/mode14",
    "REFRIGERATOR/dev_76C07F/mode15",
    "REFRIGERATOR/dev_76C07F/mode16",
    "REFRIGERATOR/dev_76C07F/mode17",
    "REFRIGERATOR/dev_76C07F/mode18",
    "REFRIGERATOR/dev_76C07F/mode19",
    "REFRIGERATOR/dev_76C07F/mode20",
    "REFRIGERATOR/dev_76C07F/mode21",
    "REFRIGERATOR/dev_76C07F/mode22",
    "REFRIGERATOR/dev_76C07F/mode23",
    "FREEZER/ECO-H1/mode0",
    "FREEZER/ECO-H1/mode1",
    "FREEZER/ECO-H1/mode2",
    "FREEZER/ECO-H1/mode3",
    "FREEZER/ECO-H1/mode4",
    "FREEZER/ECO-H1/mode5",
    "FREEZER/ECO-H1/mode6",
    "MICROWAVE/dev_98A0D3/mode0",
    "KETTLE/ECO-H1/mode0",
    "KETTLE/ECO-H1/mode1",
    "KETTLE/ECO-H1/mode2",
    "KETTLE/ECO-H1/mode3",
    "COOKINGSTOVE/dev_D33097/mode0",
    "COOKINGSTOVE/dev_D33097/mode1",
    "COOKINGSTOVE/dev_D33097/mode2",
    "TOASTER/dev_98ABD2/mode0",
    "COFFEEMAKER/ECO-H1/mode0",
    "COFFEEMAKER/ECO-H1/mode1",
    "VACUUMCLEANER/device_B7E2F8/mode0",
    "IRON/dev_D337C2/mode0",
    "TV/dev_B80E51/mode0",
    "TV/dev_B80E51/mode1",
    "PC/ECO-H1/mode0",
    "PC/ECO-H1/mode1",
    "PRINTER/dev_11F01E/mode0",
    "PRINTER/dev_11F01E/mode1",
    "PRINTER/dev_11F01E/mode2",
    "AMPLIFIER/dev_AF6490/mode0",
    "CDPLAYER/dev_C3E6D1/mode0",
)
_ALLOWED = frozenset(TRAIN_ALLOWLIST)

# antgen appliance type (the folder name) -> device category key (analytics.models.DeviceCategory).
CATEGORY_BY_ANTGEN_TYPE: dict[str, str] = {
    "WASHINGMACHINE": "washingMachine",
    "DISHWASHER": "dishwasher",
    "DRYER": "dryer",
    "REFRIGERATOR": "fridge",
    "FREEZER": "freezer",
    "MICROWAVE": "microwave",
    "KETTLE": "kettle",
    "COOKINGSTOVE": "stovetop",
    "TOASTER": "toaster",
    "COFFEEMAKER": "coffeeMachine",
    "VACUUMCLEANER": "vacuumCleaner",
    "IRON": "iron",
    "TV": "tvsAndMonitors",
    "PC": "entertainmentAndComputers",
    "PRINTER": "entertainmentAndComputers",
    "AMPLIFIER": "entertainmentAndComputers",
    "CDPLAYER": "entertainmentAndComputers",
}


@dataclass(frozen=True)
class ConstantSegment:
    """`ON_OFF`: constant `power_w` (W) for `fraction` of the cycle."""

    fraction: float
    power_w: float


@dataclass(frozen=True)
class LinearSegment:
    """`LINEAR`: ramp from `start_w` to `end_w` (W) over `fraction` of the cycle."""

    fraction: float
    start_w: float
    end_w: float


@dataclass(frozen=True)
class DecaySegment:
    """`ON_OFF_DECAY`: `active_w + (peak_w - active_w) * exp(-rate_per_s * x)`, x in s from 0."""

    fraction: float
    active_w: float
    peak_w: float
    rate_per_s: float


@dataclass(frozen=True)
class GrowthSegment:
    """`ON_OFF_GROWTH`: `base_w + growth_w * ln(stretch * x)` (W), x in s from 1."""

    fraction: float
    base_w: float
    growth_w: float
    stretch: float


Segment = ConstantSegment | LinearSegment | DecaySegment | GrowthSegment


@dataclass(frozen=True)
class ApplianceModel:
    """One antgen cycle model.

    `path` is relative to antgen/appliances/ (e.g. "KETTLE/ECO-H1/mode0"), `antgen_type` its
    first folder, `category` the reference category key, `duration_s` the usual cycle length (s)
    `segments` the load segments in order, their fractions summing to about 1, and
    `cycles_per_day` the profile's `frequency` attribute when it has one (cycling appliances).
    """

    path: str
    antgen_type: str
    device: str
    category: str
    duration_s: int
    segments: tuple[Segment, ...]
    cycles_per_day: float | None = None

    def nominal_mean_power_w(self) -> float:
        """Mean power (W) of an unjittered rendering."""
        return float(render_cycle(self).mean())


def appliances_root() -> Path:
    """Folder antgen/appliances of the installed antgen package (not imported, only located)."""
    spec = importlib.util.find_spec("antgen")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"antgen=={ANTGEN_VERSION} is not installed")
    return Path(spec.origin).parent / "appliances"


def _parse_xml(file: Path) -> ET.Element:
    """Parse one model file; the only place that opens antgen files (tests patch it)."""
    # The files come from the pinned, installed antgen package, not from users.
    return ET.parse(file).getroot()  # noqa: S314


def _value(load: ET.Element, name: str, default: float | None = None) -> float:
    element = load.find(name)
    raw = element.get("value") if element is not None else None
    if raw is None:
        if default is None:
            raise ValueError(f"load segment without {name}")
        return default
    return float(raw)


def _segment(load: ET.Element) -> Segment:
    kind = load.get("type")
    fraction = _value(load, "duration")
    if kind == "ON_OFF":
        return ConstantSegment(fraction, _value(load, "onPower"))
    if kind == "LINEAR":
        return LinearSegment(fraction, _value(load, "startPower"), _value(load, "endPower"))
    if kind == "ON_OFF_DECAY":
        return DecaySegment(
            fraction,
            _value(load, "activePower"),
            _value(load, "peakPower"),
            _value(load, "decayRate"),
        )
    if kind == "ON_OFF_GROWTH":
        return GrowthSegment(
            fraction,
            _value(load, "basePower"),
            _value(load, "growthRate"),
            _value(load, "stretchFactor", 1.0),
        )
    raise ValueError(f"unsupported load segment type {kind!r}")


def load_model(path: str, root: Path | None = None) -> ApplianceModel:
    """Parse the allowlisted model `path` (relative to antgen/appliances/).

    Raises ValueError for a path outside `TRAIN_ALLOWLIST`, before touching any file.
    """
    if path not in _ALLOWED:
        raise ValueError(f"{path!r} is not in the antgen training allowlist")
    antgen_type, device, _mode = path.split("/")
    profile = _parse_xml((root or appliances_root()) / path)
    duration = profile.get("duration")
    if profile.tag != "profile" or duration is None:
        raise ValueError(f"{path}: not an antgen profile")
    segments = tuple(_segment(load) for load in profile.findall("load"))
    frequency = profile.get("frequency")
    return ApplianceModel(
        path=path,
        antgen_type=antgen_type,
        device=device,
        category=CATEGORY_BY_ANTGEN_TYPE[antgen_type],
        duration_s=int(float(duration)),
        segments=segments,
        cycles_per_day=float(frequency) if frequency is not None else None,
    )


@functools.cache
def _load_all(root: Path) -> tuple[ApplianceModel, ...]:
    return tuple(load_model(path, root) for path in TRAIN_ALLOWLIST)


def load_allowlisted_models(root: Path | None = None) -> tuple[ApplianceModel, ...]:
    """Every allowlisted model, in allowlist order (parsed once per root, then cached)."""
    return _load_all(root or appliances_root())


def models_by_category(
    models: tuple[ApplianceModel, ...] | None = None,
) -> dict[str, tuple[ApplianceModel, ...]]:
    """Allowlisted models grouped by reference category key, in allowlist order."""
    grouped: dict[str, list[ApplianceModel]] = {}
    for model in models if models is not None else load_allowlisted_models():
        grouped.setdefault(model.category, []).append(model)
    return {category: tuple(group) for category, group in grouped.items()}


def _render_segment(segment: Segment, length: int) -> npt.NDArray[np.float64]:
    if isinstance(segment, ConstantSegment):
        return np.full(length, segment.power_w)
    if isinstance(segment, LinearSegment):
        return np.linspace(segment.start_w, segment.end_w, length)
    if isinstance(segment, DecaySegment):
        x = np.arange(length, dtype=np.float64)
        decay = np.exp(-segment.rate_per_s * x)
        return segment.active_w + (segment.peak_w - segment.active_w) * decay
    x = np.arange(1, length + 1, dtype=np.float64)
    if segment.stretch <= 0:
        return np.full(length, segment.base_w)
    return segment.base_w + segment.growth_w * np.log(segment.stretch * x)


def render_cycle(
    model: ApplianceModel,
    rng: np.random.Generator | None = None,
    *,
    duration_jitter: float = 0.1,
    power_jitter: float = 0.05,
    noise: float = 0.01,
    duration_s: int | None = None,
    power_scale: float = 1.0,
    fraction_weights: Sequence[float] | None = None,
    segment_power: Sequence[float] | None = None,
) -> npt.NDArray[np.float64]:
    """One cycle of `model` at 1 Hz: power in W per second, never negative.

    Without `rng` the cycle is the model itself (usual duration, no jitter). With `rng` the
    duration is scaled by a log-normal factor (sigma `duration_jitter`), every power by one
    normal factor (mean 1, sigma `power_jitter`, at least 0.5) and each sample by independent
    normal noise (relative sigma `noise`). `duration_s` overrides the duration (s, before
    jitter). Segment boundaries are the cumulative fractions times the duration, rounded.

    A simulated *device* other than the recorded one (docs/classifier.md, "Training data") is
    described by `power_scale` (every power times this), `fraction_weights` (each segment's
    share of the cycle times its weight, then renormalised: longer heating, shorter spinning)
    and `segment_power` (each segment's power times its own factor); one per segment.
    """
    nominal = float(model.duration_s if duration_s is None else duration_s)
    scale = 1.0
    if rng is not None:
        nominal = nominal * math.exp(duration_jitter * float(rng.standard_normal()))
        scale = max(0.5, 1.0 + power_jitter * float(rng.standard_normal()))
    length = max(1, round(nominal))
    power = np.zeros(length, dtype=np.float64)
    fractions = np.array([s.fraction for s in model.segments], dtype=np.float64)
    if fraction_weights is not None and fractions.size:
        total = float(fractions.sum())
        warped = fractions * np.asarray(fraction_weights, dtype=np.float64)
        fractions = warped * (total / max(float(warped.sum()), 1e-12))
    levels = np.ones(len(model.segments)) if segment_power is None else np.asarray(segment_power)
    bounds = np.rint(np.cumsum(fractions) * length).astype(np.int64)
    begin = 0
    for segment, bound, level in zip(model.segments, bounds, levels, strict=True):
        end = min(int(bound), length)
        if end > begin:
            power[begin:end] = _render_segment(segment, end - begin) * float(level)
            begin = end
    if begin < length and model.segments:
        # Fractions summing to slightly under 1: hold the last segment's final power.
        power[begin:] = power[begin - 1] if begin else 0.0
    power *= scale * power_scale
    if rng is not None and noise > 0:
        power *= 1.0 + noise * rng.standard_normal(length)
    return np.maximum(power, 0.0)
