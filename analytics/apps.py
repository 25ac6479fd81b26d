from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Sequences (peaks, anomalies), devices, the peak classifier and aggregates."""

    name = "analytics"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (registers the receivers)
