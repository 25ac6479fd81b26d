"""Test settings: the base settings with fast hashing, eager Celery and in-memory mail."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")

from .base import *  # noqa: F403  (settings module: star import is the convention)
from .base import DATABASES, LOGGING, MIDDLEWARE, VAR_DIR

# Fast hashing for new passwords; the hashers of accounts imported from the old platform check
# theirs (energyleaf/legacy tests).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "energyleaf.users.services.hashers.TruncatingBCryptPasswordHasher",
]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ENERGYLEAF_CRON_SECRET = "test-cron-secret"  # noqa: S105 - a fixed secret for tests only
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
    # A file, not memory: end-to-end tests start gunicorn processes that share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-database.sqlite3")}
LOGGING["root"]["level"] = "WARNING"  # type: ignore[index]

# Static files are not collected in tests; WhiteNoise would only warn about the missing folder.
MIDDLEWARE = [name for name in MIDDLEWARE if not name.startswith("whitenoise.")]

VAR_DIR.mkdir(parents=True, exist_ok=True)
