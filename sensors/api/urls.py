from django.urls import path

from . import views

app_name = "sensors"

urlpatterns = [
    path("api/v1/token", views.TokenView.as_view(), name="token"),
    path("api/v1/sensor_input", views.SensorInputView.as_view(), name="sensor-input"),
    path("api/v1/sensor_input/batch", views.BatchInputView.as_view(), name="sensor-input-batch"),
    path("api/v1/script_accepted", views.ScriptAcceptedView.as_view(), name="script-accepted"),
    path(
        "api/v1/sensors/<int:sensor_id>/settings",
        views.SensorSettingsView.as_view(),
        name="sensor-settings",
    ),
    path("api/v2/energy", views.EnergyInputView.as_view(), name="energy-input"),
    path("api/v2/gas", views.GasInputView.as_view(), name="gas-input"),
    path("api/v2/water", views.WaterInputView.as_view(), name="water-input"),
]
