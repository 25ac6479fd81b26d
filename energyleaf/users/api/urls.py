from django.urls import path

from .views import LoginView, MeView, RefreshView, VerifyView

app_name = "users"

urlpatterns = [
    path("auth/token", LoginView.as_view(), name="jwt-obtain"),
    path("auth/token/refresh", RefreshView.as_view(), name="jwt-refresh"),
    path("auth/token/verify", VerifyView.as_view(), name="jwt-verify"),
    path("me", MeView.as_view(), name="me-retrieve"),
]
