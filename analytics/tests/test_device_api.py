"""Devices and peaks API: shapes, ownership, validation and query budgets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from analytics.models import Device, DevicePeak, Sequence
from analytics.tests import helpers
from analytics.tests.factories import DeviceFactory, DevicePeakFactory, DeviceSuggestionFactory
from energyleaf.tests.helpers import client_for, jwt_client, jwt_obtain
from energyleaf.users.models import Household
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 7, 1, 12, tzinfo=UTC)
RANGE = {"start": "2024-07-01T00:00:00+00:00", "end": "2024-07-02T00:00:00+00:00"}
ERROR_KEYS = {"message", "code", "extra"}


def make_sequence(sensor, **fields) -> Sequence:
    return helpers.make_sequence(sensor, energy_kwh=0.01, **fields)


@pytest.fixture
def sensor():
    return SensorFactory()


def test_peaks_require_authentication(api_client):
    response = api_client.get(reverse("analytics:peak-list"), RANGE)
    assert response.status_code == 401
    assert set(response.json()) == ERROR_KEYS


def test_peak_list_shape_and_query_budget(sensor, django_assert_num_queries):
    helpers.set_arm(sensor.user, Household.AppVersion.SUPPORT)
    client = client_for(sensor.user)
    device = DeviceFactory(user=sensor.user)
    for minutes in (0, 10, 20):
        peak = make_sequence(sensor, minutes=minutes)
        DevicePeakFactory(device=device, sequence=peak)
        DeviceSuggestionFactory(
            sequence=peak, category="kettle", probability=0.8, model_version="v1"
        )
        DeviceSuggestionFactory(sequence=peak, category="oven", probability=0.3, model_version="v1")
    make_sequence(sensor, minutes=30, kind="anomaly")
    with django_assert_num_queries(3):
        response = client.get(reverse("analytics:peak-list"), RANGE)
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 3
    assert set(body[0]) == {
        "id",
        "kind",
        "start",
        "end",
        "average_power_w",
        "average_peak_power_w",
        "energy_kwh",
        "devices",
        "suggestions",
    }
    assert body[0]["devices"] == [{"id": device.pk, "name": "Kettle", "category": "kettle"}]
    assert body[0]["suggestions"] == [
        {"category": "kettle", "probability": 0.8, "model_version": "v1"}
    ]
    anomalies = client.get(reverse("analytics:peak-list"), {**RANGE, "kind": "anomaly"}).json()
    assert [a["kind"] for a in anomalies] == ["anomaly"]


def test_peak_list_accepts_dates(sensor):
    make_sequence(sensor)
    response = client_for(sensor.user).get(
        reverse("analytics:peak-list"), {"start": "2024-07-01", "end": "2024-07-02"}
    )
    assert response.status_code == 200
    assert len(response.json()) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"start": RANGE["end"], "end": RANGE["start"]}, "end", id="end_before"),
        pytest.param({"start": RANGE["start"], "end": RANGE["start"]}, "end", id="empty"),
        pytest.param({"start": "2024-07-01", "end": "2024-08-02"}, "end", id="more_than_31_days"),
        pytest.param({"start": "2024-07-01T00:00:00", "end": RANGE["end"]}, "start", id="naive"),
        pytest.param({"start": "yesterday", "end": RANGE["end"]}, "start", id="garbage"),
        pytest.param({**RANGE, "kind": "spike"}, "kind", id="kind"),
        pytest.param({"end": RANGE["end"]}, "start", id="missing"),
    ],
)
def test_peak_list_rejects_bad_parameters(sensor, params, field):
    response = client_for(sensor.user).get(reverse("analytics:peak-list"), params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert field in body["extra"]["fields"]


def test_admin_may_read_another_household_over_a_long_span(sensor):
    make_sequence(sensor)
    params = {"start": "2024-06-01", "end": "2024-08-01", "user": sensor.user.pk}
    without_permission = client_for(StaffFactory()).get(reverse("analytics:peak-list"), params)
    assert without_permission.status_code == 400  # the household span limit applies
    support = client_for(StaffFactory(roles=["support"]))
    assert (
        support.get(reverse("analytics:peak-list"), {**RANGE, "user": sensor.user.pk}).status_code
        == 403
    )
    admin = StaffFactory(roles=["researcher"])
    response = client_for(admin).get(reverse("analytics:peak-list"), params)
    assert response.status_code == 200
    assert len(response.json()) == 1


def test_household_may_not_pass_another_user(sensor):
    other = SensorFactory()
    response = client_for(sensor.user).get(
        reverse("analytics:peak-list"), {**RANGE, "user": other.user.pk}
    )
    assert response.status_code == 403
    assert set(response.json()) == ERROR_KEYS


def test_assign_then_again_then_unassign(sensor):
    client = client_for(sensor.user)
    device, peak = DeviceFactory(user=sensor.user), make_sequence(sensor, power_w=2000)
    url = reverse("analytics:peak-device-assign", args=[peak.pk])
    first = client.post(url, {"device_id": device.pk}, format="json")
    assert first.status_code == 201
    assert [d["id"] for d in first.json()["devices"]] == [device.pk]
    again = client.post(url, {"device_id": device.pk}, format="json")
    assert again.status_code == 200
    assert DevicePeak.objects.count() == 1
    device.refresh_from_db()
    assert device.power_w == pytest.approx(2000.0)
    estimation = client.get(reverse("analytics:device-estimation"))
    assert estimation.status_code == 200
    assert estimation.json()["quality"] == "insufficient"  # one peak: no variance
    assert estimation.json()["devices"][0]["power_w"] == pytest.approx(2000.0)
    gone = client.delete(reverse("analytics:peak-device-unassign", args=[peak.pk, device.pk]))
    assert gone.status_code == 204
    assert not DevicePeak.objects.exists()


def test_assign_rejects_a_missing_device_id(sensor):
    peak = make_sequence(sensor)
    response = client_for(sensor.user).post(
        reverse("analytics:peak-device-assign", args=[peak.pk]), {}, format="json"
    )
    assert response.status_code == 400
    assert "device_id" in response.json()["extra"]["fields"]


def test_device_crud(django_assert_num_queries):
    user = UserFactory()
    client = client_for(user)
    created = client.post(
        reverse("analytics:device-list"),
        {"name": "Oven", "category": "oven", "weekly_usage_hours": 4},
        format="json",
    )
    assert created.status_code == 201
    device_id = created.json()["id"]
    assert created.json()["is_power_estimated"] is True
    DeviceFactory(user=user, name="Dryer")
    with django_assert_num_queries(1):
        listed = client.get(reverse("analytics:device-list"))
    assert [d["name"] for d in listed.json()] == ["Dryer", "Oven"]
    detail = reverse("analytics:device-detail", args=[device_id])
    assert client.get(detail).json()["name"] == "Oven"
    patched = client.patch(detail, {"power_w": 3000, "is_power_estimated": False}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["power_w"], patched.json()["is_power_estimated"]) == (3000.0, False)
    assert client.delete(detail).status_code == 204
    assert client.get(detail).status_code == 404


def test_device_create_rejects_unknown_category():
    response = client_for(UserFactory()).post(
        reverse("analytics:device-list"), {"name": "Robot", "category": "robot"}, format="json"
    )
    assert response.status_code == 400
    assert "category" in response.json()["extra"]["fields"]
    assert not Device.objects.exists()


def test_estimation_is_404_before_the_first_run():
    response = client_for(UserFactory()).get(reverse("analytics:device-estimation"))
    assert response.status_code == 404
    assert set(response.json()) == ERROR_KEYS


def test_second_household_cannot_see_or_change_the_first(sensor):
    device, peak = DeviceFactory(user=sensor.user), make_sequence(sensor)
    DevicePeakFactory(device=device, sequence=peak)
    intruder = SensorFactory().user
    own_device = DeviceFactory(user=intruder, name="Mine")
    client = jwt_client(jwt_obtain(intruder.email)["access"])

    assert client.get(reverse("analytics:peak-list"), RANGE).json() == []
    assert client.get(reverse("analytics:device-list")).json()[0]["id"] == own_device.pk
    detail = reverse("analytics:device-detail", args=[device.pk])
    assert client.get(detail).status_code == 404
    assert client.patch(detail, {"name": "x"}, format="json").status_code == 404
    assert client.delete(detail).status_code == 404
    assign = reverse("analytics:peak-device-assign", args=[peak.pk])
    assert client.post(assign, {"device_id": own_device.pk}, format="json").status_code == 404
    unassign = reverse("analytics:peak-device-unassign", args=[peak.pk, device.pk])
    response = client.delete(unassign)
    assert response.status_code == 404
    assert set(response.json()) == ERROR_KEYS
    device.refresh_from_db()
    assert device.name == "Kettle"
    assert DevicePeak.objects.filter(device=device, sequence=peak).exists()
    assert not DevicePeak.objects.filter(device=own_device).exists()


def test_each_peak_shows_its_latest_model_and_at_most_three(sensor):
    helpers.set_arm(sensor.user, Household.AppVersion.SUPPORT)
    old, new = make_sequence(sensor, minutes=0), make_sequence(sensor, minutes=10)
    for category, p in (("kettle", 0.9), ("toaster", 0.8), ("iron", 0.7), ("dryer", 0.6)):
        DeviceSuggestionFactory(sequence=old, category=category, probability=p, model_version="v1")
    DeviceSuggestionFactory(sequence=new, category="kettle", probability=0.4, model_version="v1")
    # a newer model re-classified only the second peak
    DeviceSuggestionFactory(sequence=new, category="dryer", probability=0.55, model_version="v2")
    DeviceSuggestionFactory(
        sequence=new, category="microwave", probability=0.45, model_version="v2"
    )
    body = client_for(sensor.user).get(reverse("analytics:peak-list"), RANGE).json()
    shown = {peak["id"]: [s["category"] for s in peak["suggestions"]] for peak in body}
    assert shown[old.pk] == ["kettle", "toaster", "iron"]
    assert shown[new.pk] == ["dryer"]
