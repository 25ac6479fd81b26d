from django.urls import path

from .views import EnergyExportView, ExperimentExportView, ExperimentMarkExportedView

app_name = "exports"

urlpatterns = [
    path("csv_energy", EnergyExportView.as_view(), name="energy-export"),
    path("csv_experiment", ExperimentExportView.as_view(), name="experiment-export"),
    path(
        "csv_experiment/mark_exported",
        ExperimentMarkExportedView.as_view(),
        name="experiment-mark-exported",
    ),
]
