"""Device power estimation: least squares over a household's peaks (pure numpy, no Django).

Each peak is a row listing the devices a household said were running during it; its observed
power is the peak's `average_peak_power_w` (W above the base load). The model is
``peak_power = sum(power of each assigned device)``, solved with `numpy.linalg.lstsq`.

Devices whose estimate is zero or negative are ignored (their power stays unknown) and the fit is
repeated without them, until every remaining estimate is positive. Peaks left without any
remaining device drop out of the fit. The fit's coefficient of determination (R²) is mapped to a
quality: at least `WELL_R_SQUARED` is "well", at least `SUFFICIENT_R_SQUARED` is "sufficient",
anything else (or no R² at all) is "insufficient".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WELL_R_SQUARED = 0.8
"""R² at or above this: the estimation explains the peaks well."""
SUFFICIENT_R_SQUARED = 0.5
"""R² at or above this (and below `WELL_R_SQUARED`): sufficient; below: insufficient."""

QUALITY_WELL = "well"
QUALITY_SUFFICIENT = "sufficient"
QUALITY_INSUFFICIENT = "insufficient"


@dataclass(frozen=True)
class PowerEstimate:
    """Result of one estimation run.

    `powers_w` maps device id to its estimated power in W (only positive estimates);
    `ignored` lists device ids whose estimate was zero or negative; `r_squared` is None when the
    fit has fewer peaks than devices or the peak powers do not vary; `peaks_used` counts the
    peaks in the final fit.
    """

    powers_w: dict[int, float]
    ignored: tuple[int, ...]
    r_squared: float | None
    quality: str
    peaks_used: int


def quality_for(r_squared: float | None) -> str:
    """Map R² to well / sufficient / insufficient (None is insufficient)."""
    if r_squared is None:
        return QUALITY_INSUFFICIENT
    if r_squared >= WELL_R_SQUARED:
        return QUALITY_WELL
    if r_squared >= SUFFICIENT_R_SQUARED:
        return QUALITY_SUFFICIENT
    return QUALITY_INSUFFICIENT


def estimate_device_powers(
    *, peak_devices: Sequence[Sequence[int]], peak_powers_w: Sequence[float]
) -> PowerEstimate:
    """Estimate each device's power from the peaks it was assigned to.

    `peak_devices[i]` are the device ids assigned to peak i, `peak_powers_w[i]` its power in W.
    """
    if len(peak_devices) != len(peak_powers_w):
        raise ValueError("peak_devices and peak_powers_w must have the same length")
    device_ids = sorted({device for row in peak_devices for device in row})
    column = {device: index for index, device in enumerate(device_ids)}
    matrix = np.zeros((len(peak_devices), len(device_ids)), dtype=float)
    for row_index, row in enumerate(peak_devices):
        for device in set(row):
            matrix[row_index, column[device]] = 1.0
    powers = np.asarray(peak_powers_w, dtype=float)

    active = list(range(len(device_ids)))
    ignored: list[int] = []
    while active:
        sub = matrix[:, active]
        rows = sub.any(axis=1)
        sub, target = sub[rows], powers[rows]
        solution, *_ = np.linalg.lstsq(sub, target, rcond=None)
        non_positive = [active[i] for i, value in enumerate(solution) if value <= 0]
        if not non_positive:
            r_squared = _r_squared(sub, target, solution)
            return PowerEstimate(
                powers_w={
                    device_ids[col]: float(value)
                    for col, value in zip(active, solution, strict=True)
                },
                ignored=tuple(sorted(ignored)),
                r_squared=r_squared,
                quality=quality_for(r_squared),
                peaks_used=int(rows.sum()),
            )
        ignored.extend(device_ids[col] for col in non_positive)
        active = [col for col in active if col not in non_positive]
    return PowerEstimate(
        powers_w={},
        ignored=tuple(sorted(ignored)),
        r_squared=None,
        quality=QUALITY_INSUFFICIENT,
        peaks_used=0,
    )


def _r_squared(
    matrix: np.ndarray[tuple[int, int], np.dtype[np.float64]],
    target: np.ndarray[tuple[int], np.dtype[np.float64]],
    solution: np.ndarray[tuple[int], np.dtype[np.float64]],
) -> float | None:
    peaks, devices = matrix.shape
    if peaks < devices:
        return None
    total = float(((target - target.mean()) ** 2).sum())
    if total <= 0.0:
        return None
    residual = float(((target - matrix @ solution) ** 2).sum())
    return 1.0 - residual / total
