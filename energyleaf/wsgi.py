"""WSGI entry point (gunicorn: `gunicorn -c gunicorn.conf.py energyleaf.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.base")

application = get_wsgi_application()
