"""Device services and selectors: ownership, idempotent assignment, estimation on assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.models import (
    Device,
    DeviceCategory,
    DevicePeak,
    DevicePowerEstimation,
    DeviceSuggestion,
)
from analytics.selectors import devices as selectors
from analytics.services import devices as services
from analytics.tests.factories import DevicePeakFactory, DeviceSuggestionFactory
from analytics.tests.helpers import make_sequence, set_arm
from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import Household
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 7, 1, 12, tzinfo=UTC)


def make_device(user, name: str = "Kettle", **kwargs) -> Device:
    return services.device_create(
        user=user, name=name, category=kwargs.pop("category", DeviceCategory.KETTLE), **kwargs
    )


@pytest.fixture
def household():
    return SensorFactory()


def test_device_create_stores_the_device():
    user = UserFactory()
    device = make_device(user, weekly_usage_hours=3.5)
    assert Device.objects.get(pk=device.pk).weekly_usage_hours == 3.5
    assert device.user_id == user.pk
    assert device.is_power_estimated is True


def test_device_create_rejects_an_unknown_category():
    with pytest.raises(ValidationError):
        services.device_create(user=UserFactory(), name="Robot", category="robot")
    assert not Device.objects.exists()


def test_device_update_changes_the_given_fields():
    device = make_device(UserFactory())
    updated = services.device_update(
        user=device.user, device_id=device.pk, data={"name": "Big kettle", "power_w": 2000.0}
    )
    device.refresh_from_db()
    assert (device.name, device.power_w) == ("Big kettle", 2000.0)
    assert updated.name == "Big kettle"
    assert device.history.count() == 2


def test_device_update_of_a_foreign_device_is_not_found():
    device = make_device(UserFactory())
    with pytest.raises(NotFoundError):
        services.device_update(user=UserFactory(), device_id=device.pk, data={"name": "Mine"})
    device.refresh_from_db()
    assert device.name == "Kettle"


def test_device_update_rejects_other_fields():
    device = make_device(UserFactory())
    with pytest.raises(ValidationError):
        services.device_update(user=device.user, device_id=device.pk, data={"user_id": 9})


def test_device_delete_owner_only():
    device = make_device(UserFactory())
    with pytest.raises(NotFoundError):
        services.device_delete(user=UserFactory(), device_id=device.pk)
    assert Device.objects.filter(pk=device.pk).exists()
    services.device_delete(user=device.user, device_id=device.pk)
    assert not Device.objects.filter(pk=device.pk).exists()


def test_assign_is_idempotent_and_runs_the_estimation_once(household):
    device = make_device(household.user)
    peak = make_sequence(household, power_w=1800.0)
    assert services.device_assign_to_peak(
        user=household.user, device_id=device.pk, sequence_id=peak.pk
    )
    assert not services.device_assign_to_peak(
        user=household.user, device_id=device.pk, sequence_id=peak.pk
    )
    assert DevicePeak.objects.count() == 1
    assert DevicePowerEstimation.objects.count() == 1
    device.refresh_from_db()
    assert device.power_w == pytest.approx(1800.0)


def test_assign_a_foreign_peak_or_device_is_not_found(household):
    other = SensorFactory()
    own_device, own_peak = make_device(household.user), make_sequence(household)
    foreign_device, foreign_peak = make_device(other.user), make_sequence(other)
    with pytest.raises(NotFoundError):
        services.device_assign_to_peak(
            user=household.user, device_id=own_device.pk, sequence_id=foreign_peak.pk
        )
    with pytest.raises(NotFoundError):
        services.device_assign_to_peak(
            user=household.user, device_id=foreign_device.pk, sequence_id=own_peak.pk
        )
    assert not DevicePeak.objects.exists()
    assert not DevicePowerEstimation.objects.exists()


def test_each_assignment_stores_an_estimation_and_updates_estimated_devices(household):
    user = household.user
    kettle = make_device(user, "Kettle")
    oven = make_device(user, "Oven", category=DeviceCategory.OVEN)
    fixed = make_device(user, "Fridge", power_w=42.0, is_power_estimated=False)
    p1, p2, p3 = (
        make_sequence(household, minutes=m, power_w=w) for m, w in [(0, 100), (10, 200), (20, 300)]
    )
    for device, peak in [(kettle, p1), (oven, p2), (kettle, p3), (fixed, p3)]:
        services.device_assign_to_peak(user=user, device_id=device.pk, sequence_id=peak.pk)
    assert DevicePowerEstimation.objects.filter(user=user).count() == 4
    latest = selectors.power_estimation_latest(user_id=user.pk)
    # kettle = 100; kettle + fridge = 300 => fridge 200 (fitted), oven = 200: exact fit.
    assert latest.r_squared == pytest.approx(1.0)
    assert latest.quality == DevicePowerEstimation.Quality.WELL
    assert latest.peaks_used == 3
    kettle.refresh_from_db(), oven.refresh_from_db(), fixed.refresh_from_db()
    assert kettle.power_w == pytest.approx(100.0)
    assert oven.power_w == pytest.approx(200.0)
    assert fixed.power_w == 42.0  # entered by the household, never overwritten


def test_a_negative_estimate_leaves_the_device_power_unchanged(household):
    user = household.user
    kettle = make_device(user, "Kettle")
    lamp = make_device(user, "Lamp", category=DeviceCategory.LIGHTING, power_w=7.0)
    p1, p2 = make_sequence(household, power_w=100), make_sequence(household, minutes=10, power_w=60)
    services.device_assign_to_peak(user=user, device_id=kettle.pk, sequence_id=p1.pk)
    services.device_assign_to_peak(user=user, device_id=kettle.pk, sequence_id=p2.pk)
    services.device_assign_to_peak(user=user, device_id=lamp.pk, sequence_id=p2.pk)
    lamp.refresh_from_db(), kettle.refresh_from_db()
    assert lamp.power_w == 7.0
    assert kettle.power_w == pytest.approx(80.0)
    latest = selectors.power_estimation_latest(user_id=user.pk)
    assert latest.quality == DevicePowerEstimation.Quality.INSUFFICIENT


def test_unassign_reruns_the_estimation_and_is_idempotent(household):
    device = make_device(household.user)
    peak = make_sequence(household)
    services.device_assign_to_peak(user=household.user, device_id=device.pk, sequence_id=peak.pk)
    assert services.device_unassign_from_peak(
        user=household.user, device_id=device.pk, sequence_id=peak.pk
    )
    assert not services.device_unassign_from_peak(
        user=household.user, device_id=device.pk, sequence_id=peak.pk
    )
    assert not DevicePeak.objects.exists()
    runs = list(DevicePowerEstimation.objects.order_by("pk").values_list("peaks_used", flat=True))
    assert runs == [1, 0]


def test_deleting_an_assigned_device_reruns_the_estimation(household):
    device = make_device(household.user)
    peak = make_sequence(household)
    services.device_assign_to_peak(user=household.user, device_id=device.pk, sequence_id=peak.pk)
    services.device_delete(user=household.user, device_id=device.pk)
    assert DevicePowerEstimation.objects.count() == 2
    assert selectors.power_estimation_latest(user_id=household.user.pk).peaks_used == 0


def test_household_sequences_filters_owner_kind_and_half_open_range(household):
    inside = make_sequence(household, minutes=0)
    make_sequence(household, minutes=60)  # starts at `end`: excluded
    make_sequence(household, minutes=5, kind="anomaly")
    make_sequence(SensorFactory(), minutes=0)
    found = selectors.household_sequences(
        user_id=household.user.pk, start=T0, end=T0 + timedelta(hours=1), kind="peak"
    )
    assert [s.pk for s in found] == [inside.pk]


def test_household_sequences_prefetch_devices_and_top_suggestions(household):
    set_arm(household.user, Household.AppVersion.SUPPORT)
    peaks = [make_sequence(household, minutes=m) for m in (0, 10, 20)]
    device = make_device(household.user)
    for peak in peaks:
        DevicePeakFactory(device=device, sequence=peak)
        for category, probability in [
            ("kettle", 0.9),
            ("oven", 0.7),
            ("fridge", 0.6),
            ("toaster", 0.55),
            ("iron", 0.4),
        ]:
            DeviceSuggestionFactory(
                sequence=peak, category=category, probability=probability, model_version="v2"
            )
    old = DeviceSuggestionFactory(
        sequence=peaks[0], category="dryer", probability=0.99, model_version="v1"
    )
    DeviceSuggestion.objects.filter(pk=old.pk).update(created_at=T0)
    with CaptureQueriesContext(connection) as ctx:
        found = list(
            selectors.household_sequences(
                user_id=household.user.pk, start=T0, end=T0 + timedelta(hours=1), kind="peak"
            )
        )
        categories = [[s.category for s in peak.top_suggestions] for peak in found]
        devices = [[d.pk for d in peak.devices.all()] for peak in found]
    # sequences, devices, suggestions (the latest model version per peak is chosen in SQL)
    assert len(ctx.captured_queries) == 3
    assert categories == [["kettle", "oven", "fridge"]] * 3
    assert devices == [[device.pk]] * 3


def test_without_suggestions_peaks_have_none(household):
    make_sequence(household)
    found = selectors.household_sequences(
        user_id=household.user.pk, start=T0, end=T0 + timedelta(hours=1), kind="peak"
    )
    assert [list(peak.top_suggestions) for peak in found] == [[]]


def test_sensor_power_around_is_consumption_over_time(household):
    Reading.objects.bulk_create(
        Reading(
            sensor=household,
            timestamp=T0 + timedelta(seconds=15 * i),
            value=Decimal(100) + Decimal("0.01") * i,
            consumption=Decimal("0.01") if i else Decimal(0),
        )
        for i in range(4)
    )
    points = selectors.sensor_power_around(
        sensor_id=household.pk, start=T0, end=T0 + timedelta(minutes=1), margin=timedelta(0)
    )
    assert [p.power_w for p in points] == pytest.approx([2400.0] * 3)
    assert points[0].timestamp == T0 + timedelta(seconds=15)
