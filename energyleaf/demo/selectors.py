"""Reads of the demo: where the stored history of simulated sensors ends."""

from __future__ import annotations

from collections.abc import Sequence

from sensors.compute.mac import canonical_mac_or_none
from sensors.selectors import sensor_latest_registers


def stored_registers(*, client_ids: Sequence[str]) -> dict[str, float]:
    """The register (kWh) of each sensor's newest stored reading, by client_id as given (sensors
    without readings are left out), so `simulate_sensors --register` continues each meter there."""
    latest = sensor_latest_registers(client_ids=client_ids)
    registers = {}
    for client_id in client_ids:
        value = latest.get(canonical_mac_or_none(client_id) or "")
        if value is not None:
            registers[client_id] = float(value)
    return registers
