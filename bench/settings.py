"""Settings of the benchmark server: the production settings plus the bare comparison view.

Everything comes from `energyleaf.settings.base` (read from the environment exactly as in
production); only the URL configuration differs, adding `POST /bench/bare`.
"""

from energyleaf.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
