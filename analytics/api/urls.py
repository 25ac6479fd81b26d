from django.urls import include, path

from .ml import MlClassifyView

app_name = "analytics"

urlpatterns = [
    path("", include("analytics.api.cron_urls")),
    path("", include("analytics.api.device_urls")),
    path("", include("analytics.api.aggregate_urls")),
    path("ml", MlClassifyView.as_view(), name="ml-classify"),
]
