"""Reads of the demo: where the stored history of simulated sensors ends."""

from __future__ import annotations

from collections.abc import Sequence

from sensors.selectors import sensor_latest_registers


def stored_registers(*, client_ids: Sequence[str]) -> dict[str, float]:
    """The register (kWh) of each sensor's newest stored reading, by client_id as given (sensors
    without readings are left out), so `simulate_sensors --register` continues each meter there."""
    latest = sensor_latest_registers(client_ids=client_ids)
    return {
        client_id: float(latest[client_id.upper()])
        for client_id in client_ids
        if client_id.upper() in latest
    }
