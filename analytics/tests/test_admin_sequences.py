"""Admin pages of sequences, devices, suggestions and estimations: smoke tests, query caps,
and the server-side power chart (its drawing is tested in test_admin_charts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.models import (
    Device,
    DeviceCategory,
    DevicePowerEstimation,
    DeviceSuggestion,
    Sequence,
)
from analytics.tests.factories import DeviceFactory, DeviceSuggestionFactory, SequenceFactory
from energyleaf.tests.helpers import get_counting_queries
from sensors.models import Reading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 7, 1, 12, tzinfo=UTC)

CHANGELISTS = [
    "admin:analytics_sequence_changelist",
    "admin:analytics_device_changelist",
    "admin:analytics_devicesuggestion_changelist",
    "admin:analytics_devicepowerestimation_changelist",
]


def _add_data(households: int) -> list[Sequence]:
    sequences = []
    for _ in range(households):
        sensor = SensorFactory()
        for minutes in (0, 30):
            start = T0 + timedelta(minutes=minutes)
            sequence = SequenceFactory(
                sensor=sensor,
                start=start,
                average_power_w=500,
                average_peak_power_w=400,
                energy_kwh=0.04,
            )
            DeviceSuggestionFactory(
                sequence=sequence, category="kettle", probability=0.9, model_version="v1"
            )
            sequences.append(sequence)
        DeviceFactory(user=sensor.user, name="Kettle", category=DeviceCategory.KETTLE)
        DevicePowerEstimation.objects.create(user=sensor.user, quality="insufficient")
    return sequences


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_changelist_query_count_does_not_grow_with_rows(admin_client_logged_in, url_name):
    _add_data(1)
    small, _ = get_counting_queries(admin_client_logged_in, reverse(url_name))
    _add_data(4)
    large, _ = get_counting_queries(admin_client_logged_in, reverse(url_name))
    assert large == small
    assert large <= 12


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_changelist_search(admin_client_logged_in, url_name):
    _add_data(2)
    count, _ = get_counting_queries(admin_client_logged_in, reverse(url_name), q="AA:BB:CC")
    assert count <= 12


def test_sequence_search_by_mac(admin_client_logged_in):
    sequences = _add_data(2)
    response = admin_client_logged_in.get(
        reverse("admin:analytics_sequence_changelist"), {"q": sequences[0].sensor.client_id}
    )
    assert response.context["cl"].result_count == 2


def test_sequence_change_page_shows_the_power_chart(admin_client_logged_in):
    sequence = _add_data(1)[0]
    Reading.objects.bulk_create(
        Reading(
            sensor=sequence.sensor,
            timestamp=T0 - timedelta(minutes=40) + timedelta(minutes=i),
            value=Decimal(100) + Decimal("0.01") * i,
            consumption=Decimal("0.01"),
        )
        for i in range(90)
    )
    url = reverse("admin:analytics_sequence_change", args=[sequence.pk])
    count, response = get_counting_queries(admin_client_logged_in, url)
    content = response.content
    assert count <= 12
    assert b"<svg" in content
    assert b">600<" in content  # 0.01 kWh per minute: the top of the W axis
    assert b'name="average_peak_power_w"' not in content  # read-only
    assert admin_client_logged_in.get(reverse("admin:analytics_sequence_add")).status_code == 403


def test_device_pages_render(admin_client_logged_in):
    _add_data(1)
    device = Device.objects.get()
    assert admin_client_logged_in.get(reverse("admin:analytics_device_add")).status_code == 200
    change = admin_client_logged_in.get(reverse("admin:analytics_device_change", args=[device.pk]))
    assert change.status_code == 200
    history = reverse("admin:analytics_device_history", args=[device.pk])
    assert admin_client_logged_in.get(history).status_code == 200


@pytest.mark.parametrize(
    "url_name",
    ["admin:analytics_devicesuggestion_change", "admin:analytics_devicepowerestimation_change"],
)
def test_read_only_pages_render(admin_client_logged_in, url_name):
    _add_data(1)
    model = DeviceSuggestion if "suggestion" in url_name else DevicePowerEstimation
    obj = model.objects.first()
    assert admin_client_logged_in.get(reverse(url_name, args=[obj.pk])).status_code == 200
    add = url_name.replace("_change", "_add")
    assert admin_client_logged_in.get(reverse(add)).status_code == 403
