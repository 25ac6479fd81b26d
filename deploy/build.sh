#!/bin/sh
# The production build, in one place: the Dockerfile runs these steps and .ci/run runs the same
# ones in a throw-away virtual environment, so CI proves that the image's install works.
#   sh deploy/build.sh install   # runtime packages from requirements.txt alone
#   sh deploy/build.sh static    # collect the static files (admin, Swagger UI) for WhiteNoise
# `python` and `pip` are whatever comes first on PATH (the image's Python, or CI's venv).
set -eu
cd "$(dirname "$0")/.."
step="${1:-}"
[ $# -gt 0 ] && shift
case "$step" in
    install)
        # Further arguments go to pip (e.g. -q).
        python -m pip install --disable-pip-version-check -r requirements.txt "$@"
        ;;
    static)
        # collectstatic reads the settings but no secret: a placeholder key is enough here.
        DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-collectstatic-only}" \
            python manage.py collectstatic --noinput -v 0
        ;;
    *)
        echo "usage: sh deploy/build.sh install|static" >&2
        exit 2
        ;;
esac
