# Production image: gunicorn serves the web app; the same image runs Celery worker and beat.
#   docker build -t energyleaf .
#   docker run -e DJANGO_SECRET_KEY=... -e DATABASE_URL=postgres://... \
#       -e CELERY_BROKER_URL=redis://... -e GUNICORN_BIND=0.0.0.0:8000 -p 8000:8000 energyleaf
#   docker run ... energyleaf celery -A energyleaf worker -l info
#   docker run ... energyleaf celery -A energyleaf beat -l info
# The build steps live in deploy/build.sh; .ci/run runs the same script on every submission.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=energyleaf.settings.base \
    ENERGYLEAF_VAR_DIR=/app/var

WORKDIR /app
COPY requirements.txt ./
COPY deploy/build.sh deploy/
RUN sh deploy/build.sh install

COPY . .
RUN sh deploy/build.sh static \
    && useradd --system --home /app energyleaf \
    && mkdir -p /app/var && chown -R energyleaf /app/var

USER energyleaf
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "energyleaf.wsgi"]
