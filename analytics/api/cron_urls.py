from django.urls import URLPattern, path

from .cron import CronAnomalyView, CronMarkPeaksView

urlpatterns: list[URLPattern] = [
    path("mark_peaks", CronMarkPeaksView.as_view(), name="cron-mark-peaks"),
    path("anomaly", CronAnomalyView.as_view(), name="cron-anomaly"),
]
