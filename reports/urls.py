from django.urls import URLPattern, path

from .views import UnsubscribeView

app_name = "reports"

urlpatterns: list[URLPattern] = [
    path("unsubscribe", UnsubscribeView.as_view(), name="unsubscribe"),
]
