#!/usr/bin/env bash
# CI stage: the production install from scratch. A throw-away virtual environment gets
# requirements.txt alone through deploy/build.sh (the Dockerfile's steps); then, with production
# settings on PostgreSQL and Redis: collectstatic, every runtime module imports, check --deploy
# is clean, migrate, and gunicorn answers a real sensor token request, /health, the admin and
# Swagger UI with their static files.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="$(mktemp -d "${TMPDIR:-/tmp}/energyleaf-production.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 -m venv "$WORK/venv"
export PATH="$WORK/venv/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1
sh deploy/build.sh install -q
python -m pip check

DB=energyleaf_ci_production
dropdb --if-exists -h 127.0.0.1 -U postgres "$DB"
createdb -h 127.0.0.1 -U postgres "$DB"
redis-cli -h 127.0.0.1 -n 14 flushdb >/dev/null

export DJANGO_SETTINGS_MODULE=energyleaf.settings.base
export DJANGO_READ_DOT_ENV_FILE=false DJANGO_DEBUG=false
DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
export DJANGO_SECRET_KEY
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export DJANGO_CSRF_TRUSTED_ORIGINS=https://127.0.0.1
export DJANGO_SECURE_SSL_REDIRECT=true DJANGO_SECURE_HSTS_SECONDS=31536000
export DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=true DJANGO_SECURE_HSTS_PRELOAD=true
export DJANGO_SESSION_COOKIE_SECURE=true DJANGO_CSRF_COOKIE_SECURE=true DJANGO_NUM_PROXIES=1
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export CELERY_BROKER_URL=redis://127.0.0.1:6379/14 DJANGO_CACHE_URL=redis://127.0.0.1:6379/14
export ENERGYLEAF_VAR_DIR="$WORK/var"

sh deploy/build.sh static
python .ci/check_runtime_imports.py
python manage.py check --deploy --fail-level WARNING
python manage.py migrate --noinput -v 0
MAC="5C:CF:7F:C1:00:01"
python manage.py register_sensor --client-id "$MAC" --user ci-household@example.org --create-user

PORT="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
GUNICORN_BIND="127.0.0.1:$PORT" GUNICORN_WORKERS=2 GUNICORN_ACCESSLOG="$WORK/access.log" \
    gunicorn -c gunicorn.conf.py energyleaf.wsgi &
SERVER_PID=$!
python .ci/smoke_production.py "http://127.0.0.1:$PORT" "$MAC"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
SERVER_PID=""
dropdb --if-exists -h 127.0.0.1 -U postgres "$DB"
echo "[ci] production install: passed"
