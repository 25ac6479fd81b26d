from django.apps import AppConfig


class SensorsConfig(AppConfig):
    """Sensors, their tokens and readings; the protobuf wire protocol; ingestion."""

    name = "sensors"
    verbose_name = "Sensors and readings"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
