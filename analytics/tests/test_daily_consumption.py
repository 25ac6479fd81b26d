"""A household's consumption per local day: exact sums, from the readings or the rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from analytics.models import ROLLUP_STATE_NAME, ConsumptionRollup, RollupState
from analytics.selectors.aggregates import (
    ROLLUP_GRACE,
    DailyConsumption,
    household_daily_consumption,
    local_day_bounds,
)
from analytics.services.rollups import rollups_refresh
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading
from sensors.selectors.assignments import household_periods
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

# Berlin springs forward on 31 March 2024: that local day has 23 hours.
FIRST, LAST = date(2024, 3, 30), date(2024, 4, 1)
ROWS = [
    (datetime(2024, 3, 29, 22, 59, tzinfo=UTC), "9.999"),  # 29.3. 23:59 local: before
    (datetime(2024, 3, 29, 23, 0, tzinfo=UTC), "0.5"),  # 30.3. 00:00
    (datetime(2024, 3, 30, 22, 45, tzinfo=UTC), "0.25"),  # 30.3. 23:45
    (datetime(2024, 3, 30, 23, 0, tzinfo=UTC), "1.001"),  # 31.3. 00:00
    (datetime(2024, 3, 31, 21, 45, tzinfo=UTC), "0.004"),  # 31.3. 23:45 (CEST)
    (datetime(2024, 3, 31, 22, 0, tzinfo=UTC), "2.5"),  # 1.4. 00:00
    (datetime(2024, 4, 1, 22, 0, tzinfo=UTC), "7"),  # 2.4. 00:00: after
]
EXPECTED = DailyConsumption(
    days_kwh=[Decimal("0.75"), Decimal("1.005"), Decimal("2.5")], readings=5
)


def test_local_day_bounds_follow_the_zones_midnights() -> None:
    assert local_day_bounds(first_day=FIRST, last_day=LAST, time_zone="Europe/Berlin") == [
        datetime(2024, 3, 29, 23, tzinfo=UTC),
        datetime(2024, 3, 30, 23, tzinfo=UTC),
        datetime(2024, 3, 31, 22, tzinfo=UTC),  # 23 hours later
        datetime(2024, 4, 1, 22, tzinfo=UTC),
    ]


@pytest.mark.parametrize("source", ["readings", "rollups"])
def test_day_sums_are_exact_and_the_same_from_readings_and_rollups(source: str) -> None:
    user = UserFactory()
    sensor = SensorFactory(user=user)
    Reading.objects.bulk_create(
        Reading(sensor=sensor, timestamp=moment, value=Decimal(1000), consumption=Decimal(used))
        for moment, used in ROWS
    )
    if source == "rollups":
        rollups_refresh()
        assert ConsumptionRollup.objects.exists()

    result = household_daily_consumption(
        household_key=user.pk,
        periods=household_periods(user_id=user.pk),
        first_day=FIRST,
        last_day=LAST,
        time_zone="Europe/Berlin",
    )

    assert result == EXPECTED


def test_the_rollups_serve_only_when_they_cover_the_last_day_and_the_grace() -> None:
    user = UserFactory()
    sensor = SensorFactory(user=user)
    Reading.objects.create(
        sensor=sensor,
        timestamp=datetime(2024, 6, 11, 8, tzinfo=UTC),
        value=Decimal(1000),
        consumption=Decimal(2),
    )
    rollups_refresh()
    # Marks which source was read: the rollups now say twice what the readings say.
    ConsumptionRollup.objects.filter(sensor=sensor).update(consumption=F("consumption") * 2)
    day_end = datetime(2024, 6, 11, 22, tzinfo=UTC)  # 12.6. 00:00 in Berlin
    state = RollupState.objects.filter(name=ROLLUP_STATE_NAME)

    def day_sum() -> Decimal:
        return household_daily_consumption(
            household_key=user.pk,
            periods=household_periods(user_id=user.pk),
            first_day=date(2024, 6, 11),
            last_day=date(2024, 6, 11),
            time_zone="Europe/Berlin",
        ).days_kwh[0]

    state.update(covers_until=day_end + ROLLUP_GRACE - timedelta(minutes=1))
    assert day_sum() == Decimal(2)
    state.update(covers_until=day_end + ROLLUP_GRACE)
    assert day_sum() == Decimal(4)
