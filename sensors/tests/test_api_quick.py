from __future__ import annotations

import pytest

from sensors.models import Reading

pytestmark = pytest.mark.django_db

T0 = 1_721_980_800  # 2024-07-26T08:00:00Z


def test_token_then_reading(sensor_client, sensor):
    token = sensor_client.token("5c:cf:7f:12:34:56")
    assert token.status == 200
    assert len(token.access_token) == 30
    assert token.expires_in == 3600
    assert sensor_client.send(token.access_token, 100.5, timestamp=T0) == (200, None)
    assert sensor_client.send(token.access_token, 100.6, timestamp=T0 * 1000 + 15000) == (200, None)
    assert sensor_client.send(token.access_token, 100.6, timestamp=T0 * 1000 + 15000) == (
        200,
        "Duplicate",
    )
    rows = list(Reading.objects.order_by("timestamp").values_list("value", "consumption"))
    assert [(str(v), str(c)) for v, c in rows] == [
        ("100.500000", "0.000000"),
        ("100.600000", "0.100000"),
    ]
