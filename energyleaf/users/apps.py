from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Users, their household data and their experiment participation."""

    name = "energyleaf.users"
    label = "users"
    verbose_name = "Users and households"
