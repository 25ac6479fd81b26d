"""Fixtures of the sensors tests: a protobuf client on the test client, a registered sensor."""

from __future__ import annotations

import pytest

from energyleaf.users.tests.factories import UserFactory
from sensors.models import Sensor
from sensors.services import sensor_register
from sensors.tests.helpers import SensorClient


@pytest.fixture
def sensor_client(client) -> SensorClient:  # type: ignore[no-untyped-def]
    return SensorClient(client)


@pytest.fixture
def sensor(db) -> Sensor:  # type: ignore[no-untyped-def]
    return sensor_register(client_id="5C:CF:7F:12:34:56", user=UserFactory())
