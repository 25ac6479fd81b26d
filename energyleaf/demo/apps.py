from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data of the run command (`manage.py seed_demo`). The top layer: it may use every
    app, and no app uses it. Has no tables."""

    name = "energyleaf.demo"
    label = "demo"
    verbose_name = "Demo data"
