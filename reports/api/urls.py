"""Routes of reports: the JSON API (under /api/v1/, namespace `reports_api`) and the web pages
(at the site root, namespace `reports`)."""

from django.urls import URLPattern, path

from .pages import UnsubscribeView
from .views import (
    ReportChartView,
    ReportDetailView,
    ReportGenerateView,
    ReportListView,
    ReportSettingsView,
)

app_name = "reports_api"

urlpatterns: list[URLPattern] = [
    path("reports", ReportListView.as_view(), name="report-list"),
    path("reports/settings", ReportSettingsView.as_view(), name="report-settings"),
    path("reports/generate", ReportGenerateView.as_view(), name="report-generate"),
    path("reports/<int:report_id>", ReportDetailView.as_view(), name="report-detail"),
    path(
        "reports/<int:report_id>/charts/<slug:name>.png",
        ReportChartView.as_view(),
        name="report-chart",
    ),
]

# The pages a mail links to (not under /api/): included at the root as namespace "reports".
page_urlpatterns: list[URLPattern] = [
    path("unsubscribe", UnsubscribeView.as_view(), name="unsubscribe"),
]
