from django.urls import URLPattern, path

from .views import ReportChartView, ReportDetailView, ReportListView, ReportSettingsView

app_name = "reports_api"

urlpatterns: list[URLPattern] = [
    path("reports", ReportListView.as_view(), name="report-list"),
    path("reports/settings", ReportSettingsView.as_view(), name="report-settings"),
    path("reports/<int:report_id>", ReportDetailView.as_view(), name="report-detail"),
    path(
        "reports/<int:report_id>/charts/<slug:name>.png",
        ReportChartView.as_view(),
        name="report-chart",
    ),
]
