"""The household report API (own data only) and the report admin."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from energyleaf.tests.helpers import client_for
from energyleaf.users.models import Household, User
from energyleaf.users.tests.factories import UserFactory
from reports.models import Report, ReportSettings
from reports.services.reports import report_generate
from sensors.models import Reading
from sensors.tests.factories import SensorFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 6, 12, 6, tzinfo=BERLIN)


def report_for(user: User) -> Report:
    Household.objects.filter(user=user).update(
        working_price_per_kwh=Decimal("0.3000"),
        daily_consumption_goal_kwh=Decimal("2.000"),
        app_version=Household.AppVersion.SUPPORT,
    )
    sensor = SensorFactory(user=user)
    Reading.objects.create(
        sensor=sensor,
        timestamp=datetime(2024, 6, 11, 8, tzinfo=UTC),
        value=Decimal(1000),
        consumption=Decimal("1.5"),
    )
    return report_generate(user_id=user.pk, now=NOW)


def test_settings_read_gives_the_defaults_without_writing() -> None:
    user = UserFactory()

    response = client_for(user).get(reverse("reports_api:report-settings"))

    assert response.status_code == 200
    assert response.json() == {
        "receive_mails": True,
        "interval_days": 3,
        "local_hour": 6,
        "last_report_at": None,
    }
    assert not ReportSettings.objects.exists()


def test_settings_change_is_stored() -> None:
    user = UserFactory()

    response = client_for(user).patch(
        reverse("reports_api:report-settings"),
        {"interval_days": 7, "local_hour": 23, "receive_mails": False},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["interval_days"] == 7
    stored = ReportSettings.objects.get(user=user)
    assert (stored.receive_mails, stored.interval_days, stored.local_hour) == (False, 7, 23)


@pytest.mark.parametrize(
    ("case", "body", "field"),
    [
        ("interval 0", {"interval_days": 0}, "interval_days"),
        ("interval 8", {"interval_days": 8}, "interval_days"),
        ("hour -1", {"local_hour": -1}, "local_hour"),
        ("hour 24", {"local_hour": 24}, "local_hour"),
    ],
)
def test_settings_out_of_range_answer_the_error_shape(
    case: str, body: dict[str, int], field: str
) -> None:
    user = UserFactory()

    response = client_for(user).patch(reverse("reports_api:report-settings"), body, format="json")

    assert response.status_code == 400
    data = response.json()
    assert (data["message"], data["code"]) == ("Validation error", "invalid")
    assert field in data["extra"]["fields"]
    assert not ReportSettings.objects.exists()


def test_list_shows_only_own_reports() -> None:
    user = UserFactory()
    own = report_for(user)
    report_for(UserFactory())

    response = client_for(user).get(reverse("reports_api:report-list"))

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body] == [own.pk]
    assert body[0]["total_consumption_kwh"] == 1.5
    assert body[0]["total_cost_eur"] == 0.45
    assert "days" not in body[0]


def test_detail_has_the_day_statistics() -> None:
    user = UserFactory()
    report = report_for(user)

    response = client_for(user).get(
        reverse("reports_api:report-detail", kwargs={"report_id": report.pk})
    )

    assert response.status_code == 200
    body = response.json()
    assert body["period_start"] == "2024-06-08T22:00:00Z"
    assert body["first_day"] == "2024-06-09"
    assert body["status"] == "ok"
    assert body["days"][2] == {
        "day": "2024-06-11",
        "consumption_kwh": 1.5,
        "cost_eur": 0.45,
        "goal_kwh": 2.0,
        "exceeded": False,
        "progress_percent": 75.0,
    }
    assert [day["consumption_kwh"] for day in body["days"]] == [0.0, 0.0, 1.5]
    assert body["charts"] == [
        {
            "name": name,
            "url": f"http://testserver/api/v1/reports/{report.pk}/charts/{name}.png",
            "content_type": "image/png",
            "width": 600,
            "height": 300,
        }
        for name in ("consumption", "cost")
    ]


def test_chart_urls_of_the_detail_serve_the_same_png_every_time() -> None:
    user = UserFactory()
    report = report_for(user)
    client = client_for(user)
    charts = client.get(
        reverse("reports_api:report-detail", kwargs={"report_id": report.pk})
    ).json()["charts"]

    for chart in charts:
        first = client.get(chart["url"], HTTP_ACCEPT="image/png")
        second = client.get(chart["url"])

        assert first.status_code == 200, chart["name"]
        assert first["Content-Type"] == "image/png"
        assert first.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert first.content == second.content
        assert first["ETag"] == second["ETag"]


@pytest.mark.parametrize("case", ["another household", "unknown chart", "no data"])
def test_chart_requests_that_must_not_see_a_chart_are_not_found(case: str) -> None:
    user = UserFactory()
    if case == "no data":
        report = report_generate(user_id=user.pk, now=NOW)  # no sensor: a no_data report
        name = "consumption"
    else:
        report = report_for(UserFactory() if case == "another household" else user)
        name = "consumption" if case == "another household" else "pie"

    response = client_for(user).get(
        reverse("reports_api:report-chart", kwargs={"report_id": report.pk, "name": name}),
        HTTP_ACCEPT="image/png",
    )

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_chart_without_a_working_price_has_no_cost_chart() -> None:
    user = UserFactory()
    report = report_for(user)
    report.days.update(cost_eur=None)

    body = (
        client_for(user)
        .get(reverse("reports_api:report-detail", kwargs={"report_id": report.pk}))
        .json()
    )
    response = client_for(user).get(
        reverse("reports_api:report-chart", kwargs={"report_id": report.pk, "name": "cost"})
    )

    assert [chart["name"] for chart in body["charts"]] == ["consumption"]
    assert response.status_code == 404


def test_chart_needs_a_login() -> None:
    report = report_for(UserFactory())

    response = APIClient().get(
        reverse("reports_api:report-chart", kwargs={"report_id": report.pk, "name": "cost"})
    )

    assert response.status_code == 401


def test_schema_documents_the_chart_endpoint_as_png() -> None:
    response = Client().get(reverse("api-schema"), HTTP_ACCEPT="application/json")

    schema = response.json()
    operation = schema["paths"]["/api/v1/reports/{report_id}/charts/{name}.png"]["get"]
    assert "image/png" in operation["responses"]["200"]["content"]
    detail = schema["components"]["schemas"]["ReportDetailOutput"]["properties"]
    assert detail["charts"]["items"]["$ref"].endswith("/ReportChartOutput")


def test_another_households_report_is_not_found() -> None:
    foreign = report_for(UserFactory())

    response = client_for(UserFactory()).get(
        reverse("reports_api:report-detail", kwargs={"report_id": foreign.pk})
    )

    assert response.status_code == 404
    assert response.json() == {"message": "Report not found.", "code": "not_found", "extra": {}}


def test_anonymous_requests_are_refused() -> None:
    response = APIClient().get(reverse("reports_api:report-list"))

    assert response.status_code == 401
    assert set(response.json()) == {"message", "code", "extra"}


def test_admin_pages_show_reports_with_days_and_settings(admin_user: User) -> None:
    report = report_for(UserFactory())
    client = Client()
    client.force_login(admin_user)

    pages = [
        reverse("admin:reports_report_changelist"),
        reverse("admin:reports_report_changelist") + "?q=example.org",
        reverse("admin:reports_report_change", args=[report.pk]),
        reverse("admin:reports_reportsettings_changelist"),
        reverse("admin:reports_reportsettings_add"),
        reverse("admin:reports_reportsettings_change", args=[report.user.report_settings.pk]),
    ]
    for page in pages:
        assert client.get(page).status_code == 200, page
    detail = client.get(reverse("admin:reports_report_change", args=[report.pk])).content.decode()
    assert "June 11, 2024" in detail
