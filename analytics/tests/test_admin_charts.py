"""The back office's charts: a household's days and quarter hours, a peak's power and suggestions,
the fleet's coverage heatmap, the classifier's reliability. Each page renders for superusers and
researchers, not for staff without the model's view permission, with a query count that does not
grow with the data; the SVGs hold one shape per bar, cell or peak."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.compute import charts
from analytics.models import DeviceCategory, DeviceSuggestion, Sequence
from analytics.selectors.charts import fleet_daily_coverage, household_consumption_chart
from analytics.services.rollups import bucket_floor
from analytics.tests.factories import (
    ConsumptionRollupFactory,
    DeviceFactory,
    DevicePeakFactory,
    DeviceSuggestionFactory,
    SequenceFactory,
)
from energyleaf.users.models import User
from energyleaf.users.tests.factories import StaffFactory, UserFactory
from sensors.models import Reading, Sensor
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def _count(svg: str, css_class: str) -> int:
    return len(re.findall(rf'class="{css_class}"', svg))


def _measured(client: Client, url: str, django_assert_num_queries: Any, queries: int) -> str:
    """The page at `url`, asserting its number of queries; after a first request, so caches
    that other tests may or may not have filled (content types) are warm either way."""
    assert client.get(url).status_code == 200
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200
    return str(response.content.decode())


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def researcher() -> Client:
    return _client(StaffFactory(roles=["researcher"]))


@pytest.fixture
def support() -> Client:
    return _client(StaffFactory(roles=["support"]))


# --- pure drawing ---------------------------------------------------------------------------------


def test_nice_ticks() -> None:
    assert charts.nice_ticks(0.0) == [0.0, 1.0]
    assert charts.nice_ticks(9.3) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert charts.nice_ticks(0.42)[-1] >= 0.42
    assert charts.nice_ticks(1800)[-1] == 2000


def test_daily_bars_one_bar_per_day_with_data() -> None:
    days = [charts.DayBar(f"d{i}", float(i), partial=i == 13) for i in range(14)]
    svg = charts.daily_bars_svg(days=days)
    assert _count(svg, "bar") == 13  # the day with 0 kWh has no bar
    assert "d0" in svg
    assert "d13" in svg
    assert "#93c5fd" in svg  # today's lighter bar
    empty = charts.daily_bars_svg(days=[charts.DayBar("d", 0.0)] * 14)
    assert _count(empty, "bar") == 0
    assert "no-data" in empty


def test_texts_are_escaped() -> None:
    svg = charts.coverage_heatmap_svg(
        rows=[charts.CoverageRow('<script>"x"</script>', [0.5])], days=["<b>"]
    )
    assert "<script>" not in svg
    assert "<b>" not in svg
    assert "&lt;script&gt;&quot;x&quot;" in svg


def test_quarter_hours_axis_in_local_time_and_peaks_marked() -> None:
    end = datetime(2026, 3, 29, 12, tzinfo=UTC)  # Berlin turned its clocks forward at 01:00 UTC
    start = end - timedelta(hours=24)
    buckets = [charts.QuarterHour(start + timedelta(minutes=15 * k), 0.1) for k in range(96)]
    peaks = [(start + timedelta(hours=h), start + timedelta(hours=h, minutes=3)) for h in (2, 9)]
    svg = charts.quarter_hours_svg(
        buckets=buckets, peaks=peaks, window_start=start, window_end=end, zone=BERLIN
    )
    assert _count(svg, "bar") == 96
    assert _count(svg, "peak") == 2
    labels = re.findall(r">(\d\d:\d\d|\d\d\.\d\d\.)<", svg)
    # 13:00 local on the 28th to 14:00 on the 29th, every 3 local hours; 03:00 follows 00:00
    # although only two hours passed.
    assert labels == ["15:00", "18:00", "21:00", "29.03.", "03:00", "06:00", "09:00", "12:00"]


def test_power_chart_holds_numbers_times_and_escaped_texts_only() -> None:
    t0 = datetime(2024, 7, 1, 12, tzinfo=UTC)

    class Point:
        def __init__(self, timestamp: datetime, power_w: float) -> None:
            self.timestamp, self.power_w = timestamp, power_w

    svg = charts.power_chart_svg(
        points=[Point(t0 + timedelta(minutes=m), 100.0 * m) for m in range(41)],
        window_start=t0,
        window_end=t0 + timedelta(minutes=40),
        highlight_start=t0 + timedelta(minutes=10),
        highlight_end=t0 + timedelta(minutes=20),
        zone=BERLIN,
    )
    texts = re.findall(r">([^<]+)<", svg)
    assert "14:00" in texts
    assert "14:40" in texts
    assert "4000" in texts
    assert "W" in texts
    allowed = re.compile(r"^[0-9.,: \-]+$|^(W|power \(W\)|the sequence)$")
    assert all(allowed.match(text) for text in texts), texts
    empty = charts.power_chart_svg(
        points=[],
        window_start=t0,
        window_end=t0 + timedelta(hours=1),
        highlight_start=t0,
        highlight_end=t0,
        zone=BERLIN,
    )
    assert "no-data" in empty


def test_reliability_one_bar_per_band_with_suggestions() -> None:
    bands = [
        charts.ReliabilityBand(0.0, 0.5, 10, 1),
        charts.ReliabilityBand(0.5, 0.8, 0, 0),
        charts.ReliabilityBand(0.8, 1.0001, 4, 3),
    ]
    svg = charts.reliability_svg(bands=bands, threshold=0.5)
    assert _count(svg, "bar") == 2
    assert "n=10" in svg
    assert "n=4" in svg
    assert "no-data" in charts.reliability_svg(bands=bands[1:2], threshold=0.5)


# --- a household's page ---------------------------------------------------------------------------


def _household(days: int) -> User:
    """A household with an electricity sensor, `days` days of readings (one per day at 11:00
    UTC, 1 kWh each, within the last 14 local days), one rollup per hour of the last `days`
    hours of the 24-hour window and `days` peaks in it."""
    user = UserFactory()
    sensor = SensorFactory(user=user, sensor_type=Sensor.SensorType.ELECTRICITY)
    now = timezone.now()
    Reading.objects.bulk_create(
        Reading(
            sensor=sensor,
            timestamp=(now - timedelta(days=k + 1)).replace(hour=11, minute=0),
            value=Decimal(100 + k),
            consumption=Decimal(1),
        )
        for k in range(days)
    )
    # Away from the window's edges, which move when a quarter hour passes during the test.
    middle = bucket_floor(now) - timedelta(hours=2)
    for k in range(days):
        ConsumptionRollupFactory(
            sensor=sensor, bucket_start=middle - timedelta(hours=k), consumption=Decimal("0.2")
        )
        SequenceFactory(
            sensor=sensor,
            kind=Sequence.Kind.PEAK,
            start=middle - timedelta(hours=k),
            end=middle - timedelta(hours=k) + timedelta(minutes=3),
        )
    return user


# The change page's own queries, plus the charts' six: zone, periods, rollup state, day sums,
# quarter hours, peaks.
HOUSEHOLD_PAGE_QUERIES = 16
PEAK_PAGE_QUERIES = 9
FLEET_PAGE_QUERIES = 8
EVALUATION_PAGE_QUERIES = 8


@pytest.mark.parametrize("days", [2, 9])
def test_household_page_charts(
    admin_client_logged_in: Client, django_assert_num_queries: Any, days: int
) -> None:
    user = _household(days)
    url = reverse("admin:users_user_change", args=[user.pk])
    html = _measured(admin_client_logged_in, url, django_assert_num_queries, HOUSEHOLD_PAGE_QUERIES)
    assert _count(html, "bar") == days + days  # daily bars + quarter hours
    assert _count(html, "peak") == days
    assert "Europe/Berlin" in html


def test_household_selector_sums_days_and_quarter_hours() -> None:
    user = _household(3)
    data = household_consumption_chart(user_id=user.pk)
    assert data.has_sensor
    assert len(data.days) == 14
    assert data.days[-1].partial
    assert sum(day.kwh for day in data.days) == Decimal(3)
    assert sorted(data.quarter_hours.values()) == [Decimal("0.2")] * 3
    assert len(data.peaks) == 3
    assert data.window_end - data.window_start == timedelta(hours=24)


def test_empty_household_shows_no_data(admin_client_logged_in: Client) -> None:
    user = UserFactory()
    response = admin_client_logged_in.get(reverse("admin:users_user_change", args=[user.pk]))
    assert response.status_code == 200
    assert b"No electricity sensor yet" in response.content
    SensorFactory(user=user)
    response = admin_client_logged_in.get(reverse("admin:users_user_change", args=[user.pk]))
    assert response.status_code == 200
    assert response.content.count(b"no-data") == 2
    assert b'class="bar"' not in response.content


def test_household_charts_for_researchers_not_for_support_nor_without_view(
    researcher: Client, support: Client
) -> None:
    user = _household(2)
    url = reverse("admin:users_user_change", args=[user.pk])
    assert b'class="peak"' in researcher.get(url).content
    # Support may view accounts (to pick a household for a sensor), not consumption data.
    page = support.get(url)
    assert page.status_code == 200
    assert b"consumption-charts" not in page.content
    assert _client(StaffFactory()).get(url).status_code == 403


# --- a peak's page --------------------------------------------------------------------------------


def _peak_with_suggestions(suggestions: int) -> Sequence:
    device = DeviceFactory(category=DeviceCategory.KETTLE)
    peak = DevicePeakFactory(device=device).sequence
    categories = [c for c in DeviceCategory.values if c != DeviceCategory.KETTLE]
    DeviceSuggestionFactory(sequence=peak, category=DeviceCategory.KETTLE, probability=0.9)
    for k in range(suggestions - 1):
        DeviceSuggestionFactory(sequence=peak, category=categories[k], probability=0.05 * k)
    DeviceSuggestionFactory(
        sequence=peak, category=categories[0], probability=0.99, model_version="older"
    )
    DeviceSuggestion.objects.filter(model_version="older").update(
        created_at=timezone.now() - timedelta(days=1)
    )
    return peak


@pytest.mark.parametrize("suggestions", [2, 6])
def test_peak_page_shows_the_newest_suggestions(
    admin_client_logged_in: Client, django_assert_num_queries: Any, suggestions: int
) -> None:
    peak = _peak_with_suggestions(suggestions)
    url = reverse("admin:analytics_sequence_change", args=[peak.pk])
    html = _measured(admin_client_logged_in, url, django_assert_num_queries, PEAK_PAGE_QUERIES)
    assert _count(html, "suggestion") == suggestions  # the older model's one is left out
    assert "confirmed ✓" in html
    assert "model test-model" in html


def test_peak_page_for_researchers_not_for_support(researcher: Client, support: Client) -> None:
    peak = _peak_with_suggestions(2)
    url = reverse("admin:analytics_sequence_change", args=[peak.pk])
    assert b'class="suggestion"' in researcher.get(url).content
    assert support.get(url).status_code == 403


def test_peak_without_suggestions_or_readings(admin_client_logged_in: Client) -> None:
    peak = SequenceFactory()
    response = admin_client_logged_in.get(
        reverse("admin:analytics_sequence_change", args=[peak.pk])
    )
    assert response.status_code == 200
    assert b"No device suggestions for this peak." in response.content
    assert b"No readings around this sequence." in response.content


# --- the fleet's page -----------------------------------------------------------------------------


def test_fleet_coverage_shares_per_day() -> None:
    now = datetime(2024, 7, 8, 12, 7, tzinfo=UTC)
    sensor = SensorFactory()
    SensorFactory()  # nothing received
    ConsumptionRollupFactory(
        sensor=sensor, bucket_start=datetime(2024, 7, 8, 6, tzinfo=UTC), readings=60
    )
    ConsumptionRollupFactory(
        sensor=sensor, bucket_start=datetime(2024, 7, 2, 6, tzinfo=UTC), readings=2880
    )
    ConsumptionRollupFactory(  # before the week
        sensor=sensor, bucket_start=datetime(2024, 7, 1, 6, tzinfo=UTC), readings=60
    )
    coverage = fleet_daily_coverage(now=now)
    assert coverage.days[0] == date(2024, 7, 2)
    assert coverage.days[-1] == date(2024, 7, 8)
    shares = coverage.of(sensor.pk)
    assert shares[0] == 0.5
    assert shares[1:6] == [0.0] * 5
    assert shares[6] == pytest.approx(60 / (12 * 240))  # 12 h of today have passed
    assert coverage.of(sensor.pk + 1) == [0.0] * 7


@pytest.mark.parametrize("sensors", [2, 7])
def test_fleet_page_heatmap(
    admin_client_logged_in: Client, django_assert_num_queries: Any, sensors: int
) -> None:
    now = timezone.now()
    for _ in range(sensors):
        sensor = SensorFactory()
        ConsumptionRollupFactory(sensor=sensor, bucket_start=bucket_floor(now) - timedelta(days=2))
    url = reverse("admin:analytics_fleet_health")
    html = _measured(admin_client_logged_in, url, django_assert_num_queries, FLEET_PAGE_QUERIES)
    assert _count(html, "cell") == 7 * sensors


def test_fleet_page_for_researchers_not_for_support(researcher: Client, support: Client) -> None:
    SensorFactory()
    url = reverse("admin:analytics_fleet_health")
    assert b'class="cell"' in researcher.get(url).content
    assert support.get(url).status_code == 403


def test_fleet_page_without_sensors(admin_client_logged_in: Client) -> None:
    response = admin_client_logged_in.get(reverse("admin:analytics_fleet_health"))
    assert response.status_code == 200
    assert b"No sensors." in response.content


# --- the classifier's page ------------------------------------------------------------------------


def _confirmed_suggestions(count: int) -> None:
    for k in range(count):
        device = DeviceFactory(category=DeviceCategory.KETTLE)
        peak = DevicePeakFactory(device=device).sequence
        DeviceSuggestionFactory(
            sequence=peak, category=DeviceCategory.KETTLE, probability=0.95, model_version="v1"
        )
        DeviceSuggestionFactory(
            sequence=peak,
            category=DeviceCategory.OVEN,
            probability=0.1 + 0.1 * (k % 3),
            model_version="v1",
        )


@pytest.mark.parametrize("peaks", [1, 6])
def test_evaluation_page_reliability_chart(
    admin_client_logged_in: Client, django_assert_num_queries: Any, peaks: int
) -> None:
    _confirmed_suggestions(peaks)
    url = reverse("admin:analytics_suggestion_evaluation")
    html = _measured(
        admin_client_logged_in, url, django_assert_num_queries, EVALUATION_PAGE_QUERIES
    )
    chart = html[html.index('id="reliability-chart"') :]
    # 0.95 and the others' 0.1, 0.2 (band 0 - 0.25) and 0.3 (0.25 - 0.5) from the third peak on
    assert _count(chart, "bar") == (2 if peaks < 3 else 3)
    assert f"n={peaks}" in chart  # the band of 0.9 - 1.0 holds one per peak


def test_evaluation_page_without_suggestions(admin_client_logged_in: Client) -> None:
    response = admin_client_logged_in.get(reverse("admin:analytics_suggestion_evaluation"))
    assert response.status_code == 200
    assert b"No suggestions on peaks with confirmed devices yet." in response.content


def test_evaluation_page_for_researchers_not_for_support(
    researcher: Client, support: Client
) -> None:
    _confirmed_suggestions(1)
    url = reverse("admin:analytics_suggestion_evaluation")
    assert b'id="reliability-chart"' in researcher.get(url).content
    assert support.get(url).status_code == 403
