"""The project's admin application: Django's, plus the pages whose actions span apps."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """`django.contrib.admin` (installed under this name, as Django documents for a project's own
    admin configuration). After every app's admin module has registered its pages, the project
    replaces the two whose actions need services of higher apps (`energyleaf.admin_site`)."""

    def ready(self) -> None:
        super().ready()  # autodiscover: each app's admin registers its models
        from . import admin_site

        admin_site.register_cross_app_pages()
