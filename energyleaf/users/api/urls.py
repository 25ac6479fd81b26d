from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from .views import MeView

app_name = "users"

urlpatterns = [
    path("auth/token", TokenObtainPairView.as_view(), name="jwt-obtain"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="jwt-refresh"),
    path("auth/token/verify", TokenVerifyView.as_view(), name="jwt-verify"),
    path("me", MeView.as_view(), name="me-retrieve"),
]
