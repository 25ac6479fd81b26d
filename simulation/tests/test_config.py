"""Tests of `simulation.config`: sensor MACs and the validation of a configuration."""

from __future__ import annotations

import pytest

from simulation.config import SimulatorConfig, client_id_for


def test_client_id_for_and_config_validation():
    assert client_id_for("5c:cf:7f:00", 1) == "5C:CF:7F:00:00:01"
    assert client_id_for("5C:CF:7F:00", 0x1234) == "5C:CF:7F:00:12:34"
    config = SimulatorConfig(count=3, first_index=9)
    assert [client_id for _, client_id in config.sensors()] == [
        "5C:CF:7F:00:00:09",
        "5C:CF:7F:00:00:0A",
        "5C:CF:7F:00:00:0B",
    ]
    assert SimulatorConfig(interval_s=1).token_retry == 2
    assert SimulatorConfig().token_retry == 30
    with pytest.raises(ValueError, match="prefix"):
        SimulatorConfig(client_id_prefix="5C:CF:7F")
    with pytest.raises(ValueError, match="65535"):
        SimulatorConfig(first_index=65_535, count=2)
    with pytest.raises(ValueError, match="URL"):
        SimulatorConfig(base_url="ftp://example.org")
