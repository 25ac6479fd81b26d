"""Routes of the analytics API (under /api/v1/)."""

from django.urls import URLPattern, path

from .views.aggregates import AggregateListView
from .views.cron import CronAnomalyView, CronMarkPeaksView
from .views.devices import (
    DeviceDetailView,
    DeviceEstimationView,
    DeviceListCreateView,
    PeakDeviceAssignView,
    PeakDeviceUnassignView,
    PeakListView,
)
from .views.live import LiveView, SensorHealthListView
from .views.ml import MlClassifyView

app_name = "analytics"

urlpatterns: list[URLPattern] = [
    # The old platform's cron entry points (Vercel cron); beat runs the same work on schedule.
    path("mark_peaks", CronMarkPeaksView.as_view(), name="cron-mark-peaks"),
    path("anomaly", CronAnomalyView.as_view(), name="cron-anomaly"),
    path("peaks", PeakListView.as_view(), name="peak-list"),
    path("peaks/<int:peak_id>/devices", PeakDeviceAssignView.as_view(), name="peak-device-assign"),
    path(
        "peaks/<int:peak_id>/devices/<int:device_id>",
        PeakDeviceUnassignView.as_view(),
        name="peak-device-unassign",
    ),
    path("devices", DeviceListCreateView.as_view(), name="device-list"),
    path("devices/estimation", DeviceEstimationView.as_view(), name="device-estimation"),
    path("devices/<int:device_id>", DeviceDetailView.as_view(), name="device-detail"),
    path("aggregates", AggregateListView.as_view(), name="aggregate-list"),
    path("ml", MlClassifyView.as_view(), name="ml-classify"),
    path("live", LiveView.as_view(), name="live"),
    path("sensors/health", SensorHealthListView.as_view(), name="sensor-health-list"),
]
