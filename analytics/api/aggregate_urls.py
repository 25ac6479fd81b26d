from django.urls import URLPattern, path

from .aggregate_views import AggregateListView

urlpatterns: list[URLPattern] = [
    path("aggregates", AggregateListView.as_view(), name="aggregate-list"),
]
