"""Report settings, the due selection and report building on hand-made readings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.test import override_settings

from analytics.models import ROLLUP_STATE_NAME, ConsumptionRollup, RollupState
from analytics.services.rollups import rollups_refresh
from energyleaf.users.models import Household, User
from energyleaf.users.tests.factories import UserFactory
from reports.models import Report, ReportSettings
from reports.selectors.reports import ReportSchedule, report_is_due, reports_due
from reports.services.reports import report_generate, report_settings_update
from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def household_with_sensor(**household: object) -> tuple[User, Sensor]:
    user = UserFactory()
    Household.objects.filter(user=user).update(**household)
    return user, SensorFactory(user=user)


def readings(sensor: Sensor, rows: list[tuple[datetime, str]]) -> None:
    Reading.objects.bulk_create(
        Reading(sensor=sensor, timestamp=moment, value=Decimal(1000), consumption=Decimal(used))
        for moment, used in rows
    )


@pytest.fixture(params=["readings", "rollups"])
def source(request: pytest.FixtureRequest) -> str:
    """Where the day sums come from: the raw readings, or the rollups once a refresh covers the
    period; every figure must come out the same."""
    return str(request.param)


def prepare(source: str) -> None:
    if source == "rollups":
        rollups_refresh()
        assert ConsumptionRollup.objects.exists()


def test_report_across_spring_dst_in_berlin_has_every_figure_exact(source: str) -> None:
    user, sensor = household_with_sensor(
        working_price_per_kwh=Decimal("0.3000"),
        base_price_per_month=Decimal("12.40"),
        daily_consumption_goal_kwh=Decimal("3.000"),
        app_version=Household.AppVersion.SELF_REFLECTION,
    )
    report_settings_update(user_id=user.pk, interval_days=3)
    readings(
        sensor,
        [
            (datetime(2024, 3, 29, 22, 59, 59, tzinfo=UTC), "5"),  # 29.3. local: before
            (datetime(2024, 3, 29, 23, tzinfo=UTC), "1.25"),  # 30.3. 00:00 CET
            (datetime(2024, 3, 30, 12, tzinfo=UTC), "2"),
            (datetime(2024, 3, 31, 21, 30, tzinfo=UTC), "4.1"),  # 31.3. 23:30 CEST (23 h day)
            (datetime(2024, 3, 31, 22, tzinfo=UTC), "0.333333"),  # 1.4. 00:00 CEST
            (datetime(2024, 4, 1, 21, 59, 59, tzinfo=UTC), "1"),
            (datetime(2024, 4, 1, 22, tzinfo=UTC), "9"),  # 2.4.: today, not reported
        ],
    )
    prepare(source)
    now = datetime(2024, 4, 2, 7, tzinfo=BERLIN)

    report = report_generate(user_id=user.pk, now=now)

    assert report.status == Report.Status.OK
    assert report.no_data_reason == ""
    assert report.time_zone == "Europe/Berlin"
    assert (report.first_day, report.last_day) == (date(2024, 3, 30), date(2024, 4, 1))
    assert report.period_start == datetime(2024, 3, 29, 23, tzinfo=UTC)
    assert report.period_end == datetime(2024, 4, 1, 22, tzinfo=UTC)
    assert report.total_consumption_kwh == Decimal("8.683")  # 3.25 + 4.1 + 1.333333
    assert report.average_daily_consumption_kwh == Decimal("2.894")
    # 3.25*0.3 + 12.40/31, 4.1*0.3 + 12.40/31, 1.333333*0.3 + 12.40/30 = 3.81833323...
    assert report.total_cost_eur == Decimal("3.82")
    assert report.average_daily_cost_eur == Decimal("1.27")
    assert (report.best_day, report.best_day_consumption_kwh) == (
        date(2024, 4, 1),
        Decimal("1.333"),
    )
    assert (report.worst_day, report.worst_day_consumption_kwh) == (
        date(2024, 3, 31),
        Decimal("4.100"),
    )
    days = list(
        report.days.values_list(
            "day", "consumption_kwh", "goal_kwh", "exceeded", "progress_percent"
        )
    )
    assert days == [
        (date(2024, 3, 30), Decimal("3.250"), Decimal("3.000"), True, Decimal("108.33")),
        (date(2024, 3, 31), Decimal("4.100"), Decimal("3.000"), True, Decimal("136.67")),
        (date(2024, 4, 1), Decimal("1.333"), Decimal("3.000"), False, Decimal("44.44")),
    ]
    assert ReportSettings.objects.get(user=user).last_report_at == now


def test_report_in_new_york_covers_the_25_hour_day_and_has_no_cost_without_working_price(
    source: str,
) -> None:
    user, sensor = household_with_sensor(
        time_zone="America/New_York",
        base_price_per_month=Decimal("10.00"),
        daily_consumption_goal_kwh=Decimal("2.000"),
        app_version=Household.AppVersion.TRANSPARENCY,
    )
    report_settings_update(user_id=user.pk, interval_days=1)
    readings(
        sensor,
        [
            (datetime(2024, 11, 3, 3, 59, 59, tzinfo=UTC), "1"),  # 2.11. 23:59:59 EDT
            (datetime(2024, 11, 3, 4, tzinfo=UTC), "2.5"),  # 3.11. 00:00 EDT
            (datetime(2024, 11, 4, 4, 30, tzinfo=UTC), "1.5"),  # 3.11. 23:30 EST (25 h day)
            (datetime(2024, 11, 4, 5, tzinfo=UTC), "7"),  # 4.11. 00:00 EST
        ],
    )
    prepare(source)

    report = report_generate(user_id=user.pk, now=datetime(2024, 11, 4, 12, tzinfo=UTC))

    assert (report.first_day, report.last_day) == (date(2024, 11, 3), date(2024, 11, 3))
    assert (report.period_start, report.period_end) == (
        datetime(2024, 11, 3, 4, tzinfo=UTC),
        datetime(2024, 11, 4, 5, tzinfo=UTC),
    )
    assert report.total_consumption_kwh == Decimal("4.000")
    assert report.average_daily_consumption_kwh == Decimal("4.000")
    assert report.total_cost_eur is None
    assert report.average_daily_cost_eur is None
    assert report.best_day == report.worst_day == date(2024, 11, 3)
    # Transparency arm: no goal figures.
    assert list(
        report.days.values_list("consumption_kwh", "goal_kwh", "exceeded", "progress_percent")
    ) == [(Decimal("4.000"), None, None, None)]


def test_ties_go_to_the_later_day_and_missing_base_price_counts_as_zero() -> None:
    user, sensor = household_with_sensor(working_price_per_kwh=Decimal("0.2500"))
    report_settings_update(user_id=user.pk, interval_days=2)
    readings(
        sensor,
        [
            (datetime(2024, 6, 10, 8, tzinfo=UTC), "2"),
            (datetime(2024, 6, 11, 8, tzinfo=UTC), "2"),
        ],
    )

    report = report_generate(user_id=user.pk, now=datetime(2024, 6, 12, 6, tzinfo=BERLIN))

    assert report.best_day == report.worst_day == date(2024, 6, 11)
    assert report.total_cost_eur == Decimal("1.00")
    assert report.average_daily_cost_eur == Decimal("0.50")
    assert report.days.count() == 2


def test_rollups_serve_a_report_only_when_they_cover_its_period() -> None:
    user, sensor = household_with_sensor()
    report_settings_update(user_id=user.pk, interval_days=1)
    readings(sensor, [(datetime(2024, 6, 11, 8, tzinfo=UTC), "2")])
    rollups_refresh()
    # Marks which source was read: the rollups now say twice what the readings say.
    ConsumptionRollup.objects.filter(sensor=sensor).update(consumption=F("consumption") * 2)
    period_end = datetime(2024, 6, 11, 22, tzinfo=UTC)  # 12.6. 00:00 in Berlin
    state = RollupState.objects.filter(name=ROLLUP_STATE_NAME)
    now = datetime(2024, 6, 12, 7, tzinfo=BERLIN)

    state.update(covers_until=period_end + timedelta(minutes=14))
    assert report_generate(user_id=user.pk, now=now).total_consumption_kwh == Decimal("2.000")

    Report.objects.all().delete()
    state.update(covers_until=period_end + timedelta(minutes=15))
    assert report_generate(user_id=user.pk, now=now).total_consumption_kwh == Decimal("4.000")


def test_building_twice_for_the_same_period_stores_one_report() -> None:
    user, sensor = household_with_sensor()
    readings(sensor, [(datetime(2024, 6, 10, 8, tzinfo=UTC), "2")])

    first = report_generate(user_id=user.pk, now=datetime(2024, 6, 12, 6, tzinfo=BERLIN))
    second = report_generate(user_id=user.pk, now=datetime(2024, 6, 12, 23, tzinfo=BERLIN))

    assert second.pk == first.pk
    assert Report.objects.filter(user=user).count() == 1
    assert first.days.count() == 3
    assert ReportSettings.objects.get(user=user).last_report_at == datetime(
        2024, 6, 12, 23, tzinfo=BERLIN
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no household", Report.NoDataReason.NO_HOUSEHOLD),
        ("no sensor", Report.NoDataReason.NO_SENSOR),
        ("no readings", Report.NoDataReason.NO_READINGS),
    ],
)
def test_missing_data_gives_a_no_data_report(case: str, reason: str) -> None:
    user = UserFactory(household=None) if case == "no household" else UserFactory()
    if case == "no readings":
        sensor = SensorFactory(user=user)
        readings(sensor, [(datetime(2024, 6, 12, 1, tzinfo=UTC), "5")])  # today: not counted
    now = datetime(2024, 6, 12, 6, tzinfo=BERLIN)

    report = report_generate(user_id=user.pk, now=now)

    assert report.status == Report.Status.NO_DATA
    assert report.no_data_reason == reason
    assert report.total_consumption_kwh is None
    assert report.total_cost_eur is None
    assert report.best_day is None
    assert report.days.count() == 0
    assert ReportSettings.objects.get(user=user).last_report_at == now


def test_a_report_without_household_uses_the_configured_default_zone() -> None:
    user = UserFactory(household=None)
    now = datetime(2024, 6, 12, 6, tzinfo=UTC)  # 18:00 on the 12th in Auckland

    with override_settings(ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE="Pacific/Auckland"):
        report = report_generate(user_id=user.pk, now=now)

    assert report.time_zone == "Pacific/Auckland"
    assert (report.first_day, report.last_day) == (date(2024, 6, 9), date(2024, 6, 11))
    assert report.period_start == datetime(2024, 6, 8, 12, tzinfo=UTC)  # Auckland midnight


LAST = datetime(2024, 6, 10, 6, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("case", "last", "now", "due"),
    [
        (
            "interval reached, hour not yet",
            LAST,
            datetime(2024, 6, 12, 5, 59, tzinfo=BERLIN),
            False,
        ),
        ("interval reached, hour reached", LAST, datetime(2024, 6, 12, 6, tzinfo=BERLIN), True),
        ("interval reached, later hour", LAST, datetime(2024, 6, 12, 23, 59, tzinfo=BERLIN), True),
        ("one day short", LAST, datetime(2024, 6, 11, 23, 59, tzinfo=BERLIN), False),
        ("overdue, before the hour", LAST, datetime(2024, 6, 13, 0, 0, tzinfo=BERLIN), True),
        ("never, before the hour", None, datetime(2024, 6, 12, 5, 59, tzinfo=BERLIN), False),
        ("never, at the hour", None, datetime(2024, 6, 12, 6, tzinfo=BERLIN), True),
        # 00:30 local on 11.6. is still 10.6. in UTC: days count on the local calendar.
        (
            "last just after local midnight",
            datetime(2024, 6, 11, 0, 30, tzinfo=BERLIN),
            datetime(2024, 6, 12, 6, tzinfo=BERLIN),
            False,
        ),
    ],
)
def test_report_is_due_at_the_boundaries(
    case: str, last: datetime | None, now: datetime, due: bool
) -> None:
    schedule = ReportSchedule(interval_days=2, local_hour=6, last_report_at=last)

    assert report_is_due(schedule=schedule, now=now, time_zone="Europe/Berlin") is due


def test_reports_due_uses_each_households_own_zone() -> None:
    now = datetime(2024, 6, 12, 4, tzinfo=UTC)  # 06:00 in Berlin, 00:00 in New York
    berlin = UserFactory()
    report_settings_update(
        user_id=berlin.pk, interval_days=1, last_report_at=datetime(2024, 6, 11, 4, tzinfo=UTC)
    )
    new_york = UserFactory()
    Household.objects.filter(user=new_york).update(time_zone="America/New_York")
    report_settings_update(
        user_id=new_york.pk, interval_days=1, last_report_at=datetime(2024, 6, 11, 10, tzinfo=UTC)
    )
    defaults = UserFactory()  # no settings row: interval 3, hour 6, never built
    inactive = UserFactory(is_active=False)
    UserFactory(household=None)  # no household: nothing to report on

    assert reports_due(now=now) == [berlin.pk, defaults.pk]
    assert inactive.pk not in reports_due(now=datetime(2024, 6, 12, 20, tzinfo=UTC))

    built = [report_generate(user_id=user_id, now=now).pk for user_id in reports_due(now=now)]

    assert sorted(Report.objects.filter(pk__in=built).values_list("user_id", flat=True)) == [
        berlin.pk,
        defaults.pk,
    ]
    assert reports_due(now=now) == []


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("interval 0", {"interval_days": 0}),
        ("interval 8", {"interval_days": 8}),
        ("hour 24", {"local_hour": 24}),
    ],
)
def test_settings_out_of_range_are_rejected_and_nothing_is_written(
    case: str, changes: dict[str, int]
) -> None:
    user = UserFactory()

    with pytest.raises(ValidationError):
        report_settings_update(user_id=user.pk, **changes)

    assert not ReportSettings.objects.filter(user=user).exists()


def test_settings_update_changes_only_the_given_fields() -> None:
    user = UserFactory()

    report_settings_update(user_id=user.pk, interval_days=7, local_hour=0)
    settings = report_settings_update(user_id=user.pk, receive_mails=False)

    settings.refresh_from_db()
    assert (settings.receive_mails, settings.interval_days, settings.local_hour) == (False, 7, 0)
    assert settings.last_report_at is None


def test_hourly_fanout_task_builds_each_due_report_once() -> None:
    from reports.tasks import generate_due_reports_task

    due, _ = household_with_sensor()
    not_yet, _ = household_with_sensor()
    report_settings_update(user_id=due.pk, interval_days=1, local_hour=6)
    report_settings_update(user_id=not_yet.pk, interval_days=1, local_hour=9)
    now = datetime(2024, 4, 2, 7, tzinfo=BERLIN).isoformat()

    assert generate_due_reports_task.delay(now).get() == 1  # eager in the test settings
    assert list(Report.objects.values_list("user_id", flat=True)) == [due.pk]
    # A re-delivered fan-out finds nothing due any more and stores nothing twice.
    assert generate_due_reports_task.delay(now).get() == 0
    assert Report.objects.count() == 1
