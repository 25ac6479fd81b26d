"""Readings, refused readings and meter events in the admin: registers with 4 decimals, power
with 0.1 W, not the 6 stored decimals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from sensors.models import MeterEvent, Reading, RejectedReading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db


def test_reading_pages_show_registers_with_four_decimals(client, admin_user):
    sensor = SensorFactory()
    reading = Reading.objects.create(
        sensor=sensor,
        timestamp=datetime(2024, 6, 1, 10, tzinfo=UTC),
        value=Decimal("12345.678950"),
        consumption=Decimal("0.000001"),
        value_current=Decimal("230.45"),
    )
    RejectedReading.objects.create(
        sensor=sensor,
        reason=RejectedReading.Reason.VALUE_TOO_HIGH,
        status_message="Value too high",
        value=Decimal("99999.123456"),
    )
    MeterEvent.objects.create(
        sensor=sensor,
        occurred_at=datetime(2024, 6, 1, 11, tzinfo=UTC),
        previous_value=Decimal("12345.678950"),
        new_value=Decimal("0.500000"),
    )
    client.force_login(admin_user)

    listed = client.get(reverse("admin:sensors_reading_changelist")).content.decode()
    detail = client.get(reverse("admin:sensors_reading_change", args=[reading.pk]))
    refused = client.get(reverse("admin:sensors_rejectedreading_changelist")).content.decode()
    events = client.get(reverse("admin:sensors_meterevent_changelist")).content.decode()

    assert '<td class="field-value_shown">12345.6790</td>' in listed
    assert '<td class="field-consumption_shown">0.0000</td>' in listed
    assert '<td class="field-value_current_shown">230.5</td>' in listed
    assert "12345.678950" not in listed
    assert detail.status_code == 200
    assert "12345.6790" in detail.content.decode()
    assert "12345.678950" not in detail.content.decode()
    assert '<td class="field-value_shown">99999.1235</td>' in refused
    assert '<td class="field-previous_value_shown">12345.6790</td>' in events
    assert '<td class="field-new_value_shown">0.5000</td>' in events
