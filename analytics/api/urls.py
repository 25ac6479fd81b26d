from django.urls import include, path

app_name = "analytics"

urlpatterns = [
    path("", include("analytics.api.cron_urls")),
    path("", include("analytics.api.device_urls")),
    path("", include("analytics.api.aggregate_urls")),
]
