"""Study arms: which households are shown device suggestions (`ENERGYLEAF_SUGGESTION_ARMS`,
analytics/selectors/arms.py); staff see every household's suggestions."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from analytics.models import DeviceSuggestion
from analytics.selectors.arms import household_sees_suggestions, suggestion_arms
from analytics.tests import helpers
from analytics.tests.factories import DeviceFactory, DeviceSuggestionFactory
from energyleaf.tests.helpers import client_for
from energyleaf.users.models import Household
from energyleaf.users.tests.factories import StaffFactory
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

RANGE = {"start": "2024-07-01T00:00:00+00:00", "end": "2024-07-02T00:00:00+00:00"}
KETTLE = [{"category": "kettle", "probability": 0.8, "model_version": "v1"}]
ARMS = Household.AppVersion
SETTINGS = {
    "default": ("support",),
    "two_arms": ("self_reflection", "support"),
    "every_arm": ("transparency", "self_reflection", "support"),
    "no_arm": (),
}


def peak_with_suggestion(sensor, minutes: int = 0):  # type: ignore[no-untyped-def]
    peak = helpers.make_sequence(sensor, minutes=minutes, energy_kwh=0.01)
    DeviceSuggestionFactory(sequence=peak, category="kettle", probability=0.8, model_version="v1")
    return peak


@pytest.mark.parametrize("arm", list(ARMS))
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_household_sees_suggestions_only_if_its_arm_is_configured(settings, arm, setting):
    settings.ENERGYLEAF_SUGGESTION_ARMS = SETTINGS[setting]
    sensor = SensorFactory()
    helpers.set_arm(sensor.user, arm)
    peak = peak_with_suggestion(sensor)
    device = DeviceFactory(user=sensor.user)
    sees = arm.name.lower() in SETTINGS[setting]
    expected = KETTLE if sees else []
    client = client_for(sensor.user)

    body = client.get(reverse("analytics:peak-list"), RANGE).json()
    assert [p["suggestions"] for p in body] == [expected]
    assigned = client.post(
        reverse("analytics:peak-device-assign", args=[peak.pk]),
        {"device_id": device.pk},
        format="json",
    )
    assert assigned.status_code == 201
    assert assigned.json()["suggestions"] == expected
    sensor.user.household.refresh_from_db()
    assert household_sees_suggestions(sensor.user.household) is sees
    # hidden, not dropped: the suggestion stays stored for research
    assert DeviceSuggestion.objects.filter(sequence=peak).count() == 1


@pytest.mark.parametrize("arm", list(ARMS))
def test_staff_see_every_arms_suggestions(arm):
    sensor = SensorFactory()
    helpers.set_arm(sensor.user, arm)
    peak_with_suggestion(sensor)
    researcher = client_for(StaffFactory(roles=["researcher"]))
    body = researcher.get(reverse("analytics:peak-list"), {**RANGE, "user": sensor.user.pk}).json()
    assert [p["suggestions"] for p in body] == [KETTLE]


@pytest.mark.parametrize("arm", list(ARMS))
def test_hiding_suggestions_adds_no_query_per_peak(arm, django_assert_num_queries):
    sensor = SensorFactory()
    helpers.set_arm(sensor.user, arm)
    for minutes in range(0, 50, 10):
        peak_with_suggestion(sensor, minutes=minutes)
    client = client_for(sensor.user)
    # sequences, devices, suggestions (the arm is checked inside the suggestions' query)
    with django_assert_num_queries(3):
        body = client.get(reverse("analytics:peak-list"), RANGE).json()
    assert len(body) == 5
    assert all(p["suggestions"] == (KETTLE if arm == ARMS.SUPPORT else []) for p in body)


def test_arms_setting_names_arms_and_rejects_unknown_names(settings):
    assert suggestion_arms() == {ARMS.SUPPORT}
    settings.ENERGYLEAF_SUGGESTION_ARMS = ("transparency", "self_reflection")
    assert suggestion_arms() == {ARMS.TRANSPARENCY, ARMS.SELF_REFLECTION}
    settings.ENERGYLEAF_SUGGESTION_ARMS = ("control",)
    with pytest.raises(ImproperlyConfigured, match="control"):
        suggestion_arms()
