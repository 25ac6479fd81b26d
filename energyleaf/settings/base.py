"""Settings for every environment, read from the process environment (django-environ).

Complete for production when the variables of `.env.example` are set; with nothing set it runs on
the embedded default: a SQLite file and a filesystem Celery broker under `var/`, mail to the
console. `energyleaf/settings/test.py` overrides a few values for speed and determinism.
"""

from __future__ import annotations

import secrets
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    # OS environment wins over the file: read_env does not overwrite set variables.
    env.read_env(str(BASE_DIR / ".env"))

VAR_DIR = Path(env.str("ENERGYLEAF_VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -----------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = secrets.token_urlsafe(50)
    warnings.warn(
        "DJANGO_SECRET_KEY is not set: using a random key for this process.", stacklevel=1
    )

ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, with the admin pages that span apps (energyleaf/apps.py).
    "energyleaf.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's JavaScript and CSS served from our own static files: /api/docs/ works offline.
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_beat",
    "corsheaders",
    # Our apps, lowest layer first: users <- audit <- sensors <- analytics <- reports; exports;
    # demo on top.
    "energyleaf.users",
    "energyleaf.audit",
    "sensors",
    "analytics",
    "exports",
    "reports",
    # The demo data and simulated sensors of the run command; uses every app above, none uses it.
    "energyleaf.demo",
    # The import from the old platform (manage.py import_energyleaf); beside the demo on top.
    "energyleaf.legacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that can answer (WhiteNoise, CommonMiddleware): CORS headers on every answer.
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

# The live-reading paths every sensor posts to every 15 s skip the middleware that cannot change
# their answers (energyleaf/common/lanes.py): the views are exempt from CSRF and read no user,
# session, message or static file. Everything else in MIDDLEWARE, and anything added to it later,
# still runs for them.
SENSOR_LANE_URL_NAMES = [
    "sensors:sensor-input",
    "sensors:energy-input",
    "sensors:gas-input",
    "sensors:water-input",
]
SENSOR_LANE_SKIPPED_MIDDLEWARE = [
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "energyleaf.urls"
WSGI_APPLICATION = "energyleaf.wsgi.application"
ASGI_APPLICATION = "energyleaf.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "energyleaf" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'energyleaf.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
# Off by default: the check costs a round trip per request. After a database restart the first
# request of each process fails with a 5xx (nothing is answered as stored), and Django then drops
# the broken connection; clients retry.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DJANGO_CONN_HEALTH_CHECKS", default=False)
# A connection pool per process (psycopg_pool) on PostgreSQL: connections go back to the pool at
# the end of each request instead of staying with the thread or greenlet that used them.
DATABASE_POOL_MAX_SIZE = int(env.str("DJANGO_DB_POOL_MAX_SIZE", default="").strip() or 0)
if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's own rule with a pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": env.float("DJANGO_DB_POOL_TIMEOUT", default=10.0),
    }
# Requests of one web process inside the application at once (energyleaf/common/admission.py);
# the others wait in arrival order, and past the timeout get a 503. Default: the pool's size, so
# that every admitted request finds a connection; 0 turns it off (the default without a pool).
_admission_limit = env.str("ENERGYLEAF_WEB_ADMISSION_LIMIT", default="").strip()
WEB_ADMISSION_LIMIT = (
    int(_admission_limit)
    if _admission_limit
    else (DATABASE_POOL_MAX_SIZE if "pool" in DATABASES["default"].get("OPTIONS", {}) else 0)
)
WEB_ADMISSION_TIMEOUT = env.float("ENERGYLEAF_WEB_ADMISSION_TIMEOUT", default=30.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat share the file; the timeout rides out the
    # short write locks they take.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"
# New passwords get the first (Django's default); the others check the hashes of accounts imported
# from the old platform (Argon2id, and plain bcrypt from before it), re-hashed at the first login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "energyleaf.users.services.hashers.TruncatingBCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Time and language ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Households live here unless their own row says otherwise; only used at the edges (reports,
# local days), never for storage.
ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE = env.str(
    "ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE", default="Europe/Berlin"
)
# The run command's demo (`python3 dev.py run`): the front page says where the demo logins are.
ENERGYLEAF_DEMO = env.bool("ENERGYLEAF_DEMO", default=False)
# /health calls the scheduler stale when its last heartbeat (every minute) is older than this,
# and detection stale when its last scheduled fan-out (every 30 minutes) is older than that.
ENERGYLEAF_HEALTH_BEAT_STALE_SECONDS = env.int("ENERGYLEAF_HEALTH_BEAT_STALE_SECONDS", default=180)
ENERGYLEAF_HEALTH_DETECTION_STALE_SECONDS = env.int(
    "ENERGYLEAF_HEALTH_DETECTION_STALE_SECONDS", default=3900
)
# Base URL of the households' web app: mail links (reports page, unsubscribe) start with it.
ENERGYLEAF_APP_URL = env.str("ENERGYLEAF_APP_URL", default="http://localhost:8000/")
# Survey routine (reports): the link of the survey tool with {token}, {survey_id} and {language},
# the ids of surveys 2 and 3 (a survey without link or id is not run), days of catch-up after a
# survey's due day, and the contact address named in the invitation.
ENERGYLEAF_SURVEY_URL_TEMPLATE = env.str("ENERGYLEAF_SURVEY_URL_TEMPLATE", default="")
ENERGYLEAF_SURVEY_SECOND_ID = env.str("ENERGYLEAF_SURVEY_SECOND_ID", default="")
ENERGYLEAF_SURVEY_THIRD_ID = env.str("ENERGYLEAF_SURVEY_THIRD_ID", default="")
ENERGYLEAF_SURVEY_CATCH_UP_DAYS = env.int("ENERGYLEAF_SURVEY_CATCH_UP_DAYS", default=7)
ENERGYLEAF_SURVEY_CONTACT_EMAIL = env.str("ENERGYLEAF_SURVEY_CONTACT_EMAIL", default="")
# Staff daily digest (docs/operations.md, "Staff daily digest"): a sensor of an active household
# is silent after this many hours without a reading; a sensor's refusals of the last 24 h are
# unusual from this many on when they are also at least this percentage of what it sent.
ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS = env.int("ENERGYLEAF_DIGEST_SILENT_AFTER_HOURS", default=6)
ENERGYLEAF_DIGEST_REFUSALS_MIN = env.int("ENERGYLEAF_DIGEST_REFUSALS_MIN", default=50)
ENERGYLEAF_DIGEST_REFUSALS_PERCENT = env.float("ENERGYLEAF_DIGEST_REFUSALS_PERCENT", default=5.0)

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Admin and security ---------------------------------------------------------------------------
ADMIN_URL = env.str("DJANGO_ADMIN_URL", default="admin/")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Sensors post over plain HTTP behind the TLS terminator, and load balancers probe /health over
# plain HTTP: the redirect must not touch those paths.
SECURE_REDIRECT_EXEMPT = [
    r"^api/v1/(token|sensor_input|script_accepted)$",
    r"^api/v2/",
    r"^health$",
]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Cross-origin browser access (django-cors-headers), only to the JSON API and only from these
# origins (e.g. https://app.example.org); empty: no cross-origin access at all. The CSV
# downloads' file name must be readable by the calling page.
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["Content-Disposition"]
# Tokens and secrets are never logged; the audit log stores hashes at most.
ENERGYLEAF_CRON_SECRET = env.str("ENERGYLEAF_CRON_SECRET", default="")

# --- Cache ----------------------------------------------------------------------------------------
CACHES = {
    "default": env.cache_url("DJANGO_CACHE_URL", default="locmemcache://energyleaf"),
}

# --- E-mail ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("DJANGO_EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="Energyleaf <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST framework, JWT, OpenAPI -----------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "energyleaf.users.api.jwt.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["energyleaf.common.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "energyleaf.common.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Proxies in front of the web processes that append to X-Forwarded-For (1 behind nginx or a
    # load balancer). 0 uses the peer address only, so a client cannot choose its own address
    # for the per-address rate limit of /api/v1/token by sending the header itself.
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env.int("ENERGYLEAF_JWT_ACCESS_MINUTES", default=15)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("ENERGYLEAF_JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": True,
    # Tokens carry the user's auth generation; see energyleaf/users/api/jwt.py.
    "TOKEN_OBTAIN_SERIALIZER": "energyleaf.users.api.jwt.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "energyleaf.users.api.jwt.TokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "energyleaf.users.api.jwt.TokenVerifySerializer",
}
# Login attempts (JWT and admin), counted in the default cache before any password is checked.
ENERGYLEAF_LOGIN_RATE_PER_ADDRESS = env.str("ENERGYLEAF_LOGIN_RATE_PER_ADDRESS", default="30/min")
ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT = env.str("ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT", default="10/min")
# "Generate my report now" (POST /api/v1/reports/generate), per household.
ENERGYLEAF_REPORT_NOW_RATE = env.str("ENERGYLEAF_REPORT_NOW_RATE", default="1/hour")
SPECTACULAR_SETTINGS = {
    "TITLE": "Energyleaf API",
    "DESCRIPTION": (
        "Household JSON API (JWT) and admin-only endpoints of the Energyleaf research backend. "
        "The sensor endpoints speak protobuf; see docs/protocol.md in the repository."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------------
# With no broker configured, kombu's filesystem transport under var/ needs no server, so the worker
# and beat really run on the embedded default. Production sets CELERY_BROKER_URL=redis://...
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message taken by a worker that dies before acknowledging it goes back to the queue after
    # this many seconds. It must exceed the longest task run plus its retry countdown (up to 300 s
    # here), or a slow task runs twice; kombu's default is one hour.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
    # kombu's Redis transport, except that losing Redis while holding unacknowledged messages
    # no longer stops the worker (energyleaf/celery_broker.py).
    CELERY_BROKER_TRANSPORT = "energyleaf.celery_broker:Transport"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# No results are kept, so nothing expires: without this beat would add (and at every start
# rewrite) a daily `celery.backend_cleanup` entry in the schedule.
CELERY_RESULT_EXPIRES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks are idempotent (a worker killed mid-task loses nothing: docs/design.md, "Reliability and
# security bar"): a message is acknowledged only after its task finished, and handed out again
# when the worker process running it died.
CELERY_TASK_ACKS_LATE = env.bool("CELERY_TASK_ACKS_LATE", default=True)
CELERY_TASK_REJECT_ON_WORKER_LOST = env.bool("CELERY_TASK_REJECT_ON_WORKER_LOST", default=True)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The schedule lives in django-celery-beat's tables (admin -> Periodic tasks). Its defaults are
# defined in energyleaf/schedule.py and seeded once by a migration of the audit app, so what an
# admin changes there stays changed. Empty here on purpose: beat copies this setting into the
# tables at every start, which would overwrite the admin's edits.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# --- Research exports ----------------------------------------------------------------------------
# Folder of the research dataset files (never served by the web server: downloads go through the
# staff-only admin view). Files older than the retention are deleted by exports.cleanup_exports.
EXPORTS_ROOT = Path(env.str("ENERGYLEAF_EXPORTS_ROOT", default="") or VAR_DIR / "exports")
EXPORT_RETENTION_DAYS = env.int("ENERGYLEAF_EXPORT_RETENTION_DAYS", default=7)
# Key of the household pseudonyms (HMAC-SHA256); empty: derived from DJANGO_SECRET_KEY. The same
# key gives the same pseudonym for a household in every export: keep it to link datasets, change
# it to make new datasets unlinkable to old ones.
EXPORT_PSEUDONYM_KEY = env.str("ENERGYLEAF_EXPORT_PSEUDONYM_KEY", default="")
# A running job without progress for this long is considered lost and queued again.
EXPORT_STUCK_MINUTES = env.int("ENERGYLEAF_EXPORT_STUCK_MINUTES", default=60)

# --- Retention ----------------------------------------------------------------------------------
# What the daily clean-up (beat entry "cleanup-retention", task reports.cleanup_retention)
# deletes; 0 keeps the data forever. Research export files: EXPORT_RETENTION_DAYS above.
# Audit events older than this many days (default one year).
ENERGYLEAF_AUDIT_RETENTION_DAYS = env.int("ENERGYLEAF_AUDIT_RETENTION_DAYS", default=365)
# Rejected readings (the refused-readings log) received more than this many days ago.
ENERGYLEAF_REJECTED_READING_RETENTION_DAYS = env.int(
    "ENERGYLEAF_REJECTED_READING_RETENTION_DAYS", default=90
)
# Raw readings measured more than this many days ago, and only once the 15-minute rollups hold
# them (rollups are kept forever; reports and charts read them). Default 0: raw readings are kept
# forever. When set, choose it well above the longest time a sensor buffers readings: a reading
# arriving later than that for a deleted quarter hour replaces that quarter hour's rollup.
ENERGYLEAF_READING_RETENTION_DAYS = env.int("ENERGYLEAF_READING_RETENTION_DAYS", default=0)

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Sensors --------------------------------------------------------------------------------------
# Advertised and enforced token lifetime (the Tasmota driver keeps it in a uint16: at most 65535).
ENERGYLEAF_SENSOR_TOKEN_LIFETIME_SECONDS = env.int(
    "ENERGYLEAF_SENSOR_TOKEN_LIFETIME_SECONDS", default=3600
)
# Live tokens kept per sensor; issuing one more drops the oldest.
ENERGYLEAF_SENSOR_MAX_LIVE_TOKENS = env.int("ENERGYLEAF_SENSOR_MAX_LIVE_TOKENS", default=5)
# Readings may lie this far in the future of the server clock (device clock skew).
ENERGYLEAF_READING_MAX_FUTURE_SECONDS = env.int(
    "ENERGYLEAF_READING_MAX_FUTURE_SECONDS", default=3600
)
# Largest batch upload, in readings (advertised in the batch answer's header).
ENERGYLEAF_BATCH_MAX_READINGS = env.int("ENERGYLEAF_BATCH_MAX_READINGS", default=20000)
# Refused readings in a row, rising consistently, that confirm a replaced meter.
ENERGYLEAF_METER_REPLACEMENT_READINGS = env.int("ENERGYLEAF_METER_REPLACEMENT_READINGS", default=3)
# /api/v1/token rate limits (DRF throttles, counted in the default cache: use a shared cache such
# as Redis via DJANGO_CACHE_URL when several web processes run).
ENERGYLEAF_TOKEN_RATE_PER_ADDRESS = env.str("ENERGYLEAF_TOKEN_RATE_PER_ADDRESS", default="600/min")
ENERGYLEAF_TOKEN_RATE_PER_CLIENT = env.str("ENERGYLEAF_TOKEN_RATE_PER_CLIENT", default="12/min")
# Batch uploads and protobuf bodies are read by the sensor parser up to this size (bytes).
ENERGYLEAF_SENSOR_MAX_BODY_BYTES = env.int("ENERGYLEAF_SENSOR_MAX_BODY_BYTES", default=4_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = ENERGYLEAF_SENSOR_MAX_BODY_BYTES

# --- Detection ----------------------------------------------------------------------------------
# A scheduled detection run also enqueues the half hours that earlier runs missed (broker or
# worker down), at most this many windows in all (48: the last 24 h).
ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS = env.int("ENERGYLEAF_DETECTION_CATCH_UP_WINDOWS", default=48)
# Sensors per detection task of a fan-out (each task detects them for one window).
ENERGYLEAF_DETECTION_CHUNK_SENSORS = env.int("ENERGYLEAF_DETECTION_CHUNK_SENSORS", default=500)
# Sensors whose readings one query reads at a time (bounds a task's memory: about 1 MB each).
ENERGYLEAF_DETECTION_FETCH_SENSORS = env.int("ENERGYLEAF_DETECTION_FETCH_SENSORS", default=250)
# The readings kept between runs end at the window's end, or this long before the run read
# them when it ran sooner: readings still in flight then would otherwise arrive "late".
ENERGYLEAF_DETECTION_KEEP_GRACE_SECONDS = env.int(
    "ENERGYLEAF_DETECTION_KEEP_GRACE_SECONDS", default=600
)
# A reading received this long before a run may still have been uncommitted when it read.
ENERGYLEAF_DETECTION_COMMIT_OVERLAP_SECONDS = env.int(
    "ENERGYLEAF_DETECTION_COMMIT_OVERLAP_SECONDS", default=120
)

# --- Peak classifier ------------------------------------------------------------------------------
# Folder of the trained models (outside git); only model files in it are ever loaded.
ENERGYLEAF_ML_MODEL_DIR = Path(env.str("ENERGYLEAF_ML_MODEL_DIR", default=str(VAR_DIR / "models")))
# Key for POST /api/v1/ml in the X-Api-Key header (empty: only staff JWTs are accepted).
ENERGYLEAF_ML_API_KEY = env.str("ENERGYLEAF_ML_API_KEY", default="")
# Study arms (`Household.app_version` names: transparency, self_reflection, support) whose
# households see device suggestions; the others' peaks are still classified (for research) but
# their suggestions are never shown to them (docs/classifier.md, "Serving"). Empty: no arm.
ENERGYLEAF_SUGGESTION_ARMS = tuple(
    name.strip().lower()
    for name in env.list("ENERGYLEAF_SUGGESTION_ARMS", default=["support"])
    if name.strip()
)
