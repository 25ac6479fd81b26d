"""Admin helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path
from django.utils.functional import cached_property

from .numbers import format_fixed


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Paginator for very large tables: on PostgreSQL an unfiltered changelist uses the planner's
    row estimate instead of COUNT(*); filtered lists and other databases count exactly."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            table = getattr(queryset, "model")._meta.db_table  # noqa: B009 - typed as a sequence
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
                row = cursor.fetchone()
            if row and row[0] and row[0] > 0:
                return int(row[0])
        return super().count


def number_display(
    field: str, *, decimals: int, description: str
) -> Callable[[admin.ModelAdmin[Any], Any], str | None]:
    """An admin column or read-only field showing `field` with exactly `decimals` places
    (energyleaf.common.numbers), sortable by the field; empty values show as the admin's dash.

    Assign it as a class attribute under a name of its own and list that name in `list_display`,
    `fields` and `readonly_fields`: `energy = number_display("energy_kwh", decimals=KWH, ...)`.
    """

    @admin.display(description=description, ordering=field)
    def show(model_admin: admin.ModelAdmin[Any], obj: Any) -> str | None:
        return format_fixed(getattr(obj, field), decimals)

    return show


def admin_view_urls(
    model_admin: admin.ModelAdmin[Any], *views: tuple[str, Callable[..., HttpResponseBase], str]
) -> list[URLPattern]:
    """URL patterns of a model admin's own pages, each `(route, view, URL name)` behind the admin
    site's login and staff check. Put them before `super().get_urls()`, whose catch-all route
    would otherwise take them."""
    return [
        path(route, model_admin.admin_site.admin_view(view), name=name)
        for route, view, name in views
    ]
