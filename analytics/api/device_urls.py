from django.urls import path

from .device_views import (
    DeviceDetailView,
    DeviceEstimationView,
    DeviceListCreateView,
    PeakDeviceAssignView,
    PeakDeviceUnassignView,
    PeakListView,
)

urlpatterns = [
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
]
