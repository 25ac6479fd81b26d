"""Float noise never reaches a reader: the JSON API and the admin print numbers rounded to their
unit (energyleaf/common/numbers.py), whatever float sums stored or computed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from analytics.models import (
    DeviceCategory,
    DevicePowerEstimation,
    Sequence,
)
from analytics.tests.factories import DeviceFactory, DeviceSuggestionFactory, SequenceFactory
from analytics.tests.helpers import NOISY_BIG, NOISY_SMALL, TINY, noisy_rollups, set_arm
from energyleaf.users.models import Household
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 7, 1, 12, tzinfo=UTC)
# A JSON number with more than 4 decimals, or with an exponent.
NOISE = re.compile(rb":-?\d+(\.\d{5,}|(\.\d+)?[eE][-+]?\d+)[,}\]]")
NOISY_TEXTS = (b"2454.000000000036", b"0.12270000000000181", b"1e-07", b"0.8770000000000018")


def noisy_peak(sensor) -> Sequence:  # type: ignore[no-untyped-def]
    peak = SequenceFactory(
        sensor=sensor,
        start=T0,
        average_power_w=NOISY_BIG,
        average_peak_power_w=NOISY_SMALL,
        energy_kwh=NOISY_SMALL,
        base_load_w=TINY,
    )
    DeviceSuggestionFactory(
        sequence=peak, category="kettle", probability=0.8770000000000018, model_version="v1"
    )
    return peak


def test_peaks_devices_and_estimation_print_rounded_numbers(api_client):
    sensor = SensorFactory()
    set_arm(sensor.user, Household.AppVersion.SUPPORT)
    noisy_peak(sensor)
    DeviceFactory(
        user=sensor.user,
        name="Kettle",
        category=DeviceCategory.KETTLE,
        power_w=NOISY_BIG,
        weekly_usage_hours=NOISY_SMALL,
    )
    DevicePowerEstimation.objects.create(
        user=sensor.user, r_squared=0.8122700000000018, quality="well", peaks_used=3
    )
    api_client.force_authenticate(sensor.user)

    peaks = api_client.get(
        reverse("analytics:peak-list"),
        {"start": "2024-07-01T00:00:00Z", "end": "2024-07-02T00:00:00Z"},
    )
    devices = api_client.get(reverse("analytics:device-list"))
    estimation = api_client.get(reverse("analytics:device-estimation"))

    assert peaks.status_code == devices.status_code == estimation.status_code == 200
    text = peaks.content
    assert b'"average_power_w":2454.0,' in text
    assert b'"average_peak_power_w":0.1,' in text
    assert b'"energy_kwh":0.123,' in text
    assert b'"probability":0.877,' in text
    assert b'"power_w":2454.0,' in devices.content
    assert b'"weekly_usage_hours":0.12,' in devices.content
    assert b'"r_squared":0.812,' in estimation.content
    assert b'"power_w":2454.0,' in estimation.content
    for response in (peaks, devices, estimation):
        assert not NOISE.search(response.content), response.content


def test_aggregates_print_rounded_sums(api_client):
    sensor = SensorFactory()
    # Two buckets of one hour: float sums of 0.1 + 0.2 kWh and of noisy powers.
    noisy_rollups(sensor, T0)
    api_client.force_authenticate(sensor.user)

    response = api_client.get(
        reverse("analytics:aggregate-list"),
        {"start": "2024-07-01T12:00:00Z", "end": "2024-07-01T13:00:00Z", "resolution": "hour"},
    )

    assert response.status_code == 200, response.content
    assert re.search(
        rb'"consumption_kwh":0\.3,"feed_in_kwh":0\.0,"average_power_w":1227\.0,'
        rb'"max_power_w":2454\.0,"readings":2',
        response.content,
    ), response.content
    assert not NOISE.search(response.content)


def test_admin_changelists_and_pages_print_rounded_numbers(client, admin_user):
    sensor = SensorFactory()
    peak = noisy_peak(sensor)
    DevicePowerEstimation.objects.create(
        user=sensor.user, r_squared=NOISY_SMALL, quality="insufficient", peaks_used=3
    )
    DeviceFactory(user=sensor.user, name="Oven", category=DeviceCategory.OVEN, power_w=NOISY_BIG)
    client.force_login(admin_user)

    pages = {
        "sequences": client.get(reverse("admin:analytics_sequence_changelist")),
        "sequence": client.get(reverse("admin:analytics_sequence_change", args=[peak.pk])),
        "suggestions": client.get(reverse("admin:analytics_devicesuggestion_changelist")),
        "estimations": client.get(reverse("admin:analytics_devicepowerestimation_changelist")),
        "devices": client.get(reverse("admin:analytics_device_changelist")),
    }

    for name, page in pages.items():
        assert page.status_code == 200, name
        for noisy in NOISY_TEXTS:
            assert noisy not in page.content, (name, noisy)
    assert b'<td class="field-average_peak_power">0.1</td>' in pages["sequences"].content
    detail = pages["sequence"].content.decode()
    for label, shown in (("Average power (W)", "2454.0"), ("Energy (kWh)", "0.123")):
        assert re.search(rf"{re.escape(label)}:</label>\s*<div class=\"readonly\">{shown}<", detail)
    assert re.search(r"Base load \(W\):</label>\s*<div class=\"readonly\">0\.0<", detail)
    assert b'<td class="field-probability_shown">0.877</td>' in pages["suggestions"].content
    assert b'<td class="field-r_squared_shown">0.123</td>' in pages["estimations"].content
    assert b'<td class="field-power">2454.0</td>' in pages["devices"].content
