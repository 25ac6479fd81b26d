from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Report settings, report building, charts and e-mails."""

    name = "reports"
