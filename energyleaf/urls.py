"""URL configuration: the front page, /health, the admin, the JSON API under /api/v1/, the OpenAPI
schema and Swagger UI."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from energyleaf import views
from energyleaf.users.admin.login import ThrottledAdminAuthenticationForm, admin_login
from reports.api.urls import page_urlpatterns

admin.site.site_header = "Energyleaf back office"
admin.site.site_title = "Energyleaf"
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("", views.front_page, name="front-page"),
    path("health", views.health, name="health"),
    # Before the admin's own URLs: the same login view, with status 429 when rate-limited.
    path(f"{settings.ADMIN_URL}login/", admin_login, name="admin-login-throttled"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("sensors.api.urls")),
    path("api/v1/", include("energyleaf.users.api.urls")),
    path("api/v1/", include("analytics.api.urls")),
    path("api/v1/", include("reports.api.urls")),
    path("api/v1/", include("exports.api.urls")),
    path("", include((page_urlpatterns, "reports"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
