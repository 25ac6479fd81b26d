from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Users, their household data and their experiment participation."""

    name = "energyleaf.users"
    label = "users"
    verbose_name = "Users and households"

    def ready(self) -> None:
        from . import schema, signals  # noqa: F401  (registers the schema extensions, receivers)
