from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from energyleaf.users.models import User
from energyleaf.users.selectors import household_time_zone
from energyleaf.users.tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_household_time_zone_is_the_households_own_zone() -> None:
    user = UserFactory(household__time_zone="America/New_York")

    assert household_time_zone(user=user) == ZoneInfo("America/New_York")
    assert household_time_zone(user_id=user.pk) == ZoneInfo("America/New_York")


def test_household_time_zone_of_a_loaded_household_costs_no_query(
    django_assert_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    user = UserFactory(household__time_zone="Asia/Tokyo")
    loaded = User.objects.select_related("household").get(pk=user.pk)

    with django_assert_num_queries(0):
        assert household_time_zone(user=loaded) == ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize("default", ["Europe/Berlin", "Pacific/Auckland"])
def test_household_time_zone_falls_back_to_the_configured_default(default: str) -> None:
    staff = StaffFactory()  # no household

    with override_settings(ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE=default):
        assert household_time_zone(user=staff) == ZoneInfo(default)
        assert household_time_zone(user_id=staff.pk) == ZoneInfo(default)
        assert household_time_zone(user_id=staff.pk + 1000) == ZoneInfo(default)  # unknown
        assert household_time_zone() == ZoneInfo(default)  # no household at all
        assert household_time_zone(user=None) == ZoneInfo(default)


def test_household_time_zone_takes_one_of_user_and_user_id() -> None:
    user = UserFactory()

    with pytest.raises(TypeError):
        household_time_zone(user=user, user_id=user.pk)
