from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Sequences (peaks, anomalies), devices, the peak classifier and aggregates."""

    name = "analytics"
