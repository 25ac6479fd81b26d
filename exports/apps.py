from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """CSV exports for households and researchers, and export jobs."""

    name = "exports"
