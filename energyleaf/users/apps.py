from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After each app's post-migrate step (its permissions exist by then): create missing role
    groups whose permissions all exist, and keep the administrator group complete."""
    from django.apps import apps as global_apps

    from energyleaf.users.services.roles import roles_ensure

    models_of = kwargs.get("apps") or global_apps
    try:
        group_model = models_of.get_model("auth", "Group")
        permission_model = models_of.get_model("auth", "Permission")
    except LookupError:
        return  # auth is not migrated (yet)
    roles_ensure(group_model=group_model, permission_model=permission_model, using=using)


class UsersConfig(AppConfig):
    """Users, their household data and their experiment participation."""

    name = "energyleaf.users"
    label = "users"
    verbose_name = "Users and households"

    def ready(self) -> None:
        from energyleaf.users.api import schema  # noqa: F401  (registers the schema extensions)

        # Connected after django.contrib.auth's create_permissions (auth is installed first).
        post_migrate.connect(_roles_after_migrate, dispatch_uid="energyleaf.users.services.roles")
