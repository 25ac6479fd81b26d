"""The project's URLs plus `POST /bench/bare`, the ceiling the sensor endpoint is compared with,
and `POST /bench/noop`, the same without the database (the gunicorn + Django floor)."""

from django.urls import path

from energyleaf.urls import urlpatterns as project_urlpatterns

from .views import bare_sensor_input, noop_sensor_input

urlpatterns = [
    path("bench/bare", bare_sensor_input, name="bench-bare"),
    path("bench/noop", noop_sensor_input, name="bench-noop"),
    *project_urlpatterns,
]
