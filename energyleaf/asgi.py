"""ASGI entry point (the project is served by gunicorn over WSGI; kept for completeness)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.base")

application = get_asgi_application()
