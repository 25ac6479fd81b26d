"""Reads of the exports app: `energy` (the household and experiment CSV downloads, re-exported
here) and `dataset` (the research dataset: which sensors and households, sliced readings)."""

from .energy import (
    CHUNK_ROWS,
    EnergyExportTarget,
    energy_csv_blocks,
    energy_export_range,
    energy_export_target,
    experiment_csv_blocks,
    experiment_participants,
)

__all__ = [
    "CHUNK_ROWS",
    "EnergyExportTarget",
    "energy_csv_blocks",
    "energy_export_range",
    "energy_export_target",
    "experiment_csv_blocks",
    "experiment_participants",
]
