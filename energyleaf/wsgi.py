"""WSGI entry point (gunicorn: `gunicorn -c gunicorn.conf.py energyleaf.wsgi`).

The Django application behind the admission limit (energyleaf/common/admission.py), which is on
when the database connections come from a pool (`ENERGYLEAF_WEB_ADMISSION_LIMIT`). Each worker
loads this module once, before it accepts connections:

- The URL configuration, and with it every view module, is imported now rather than in the
  worker's first request: under gevent that import blocks the whole worker for seconds while
  thousands of sensors are connecting.
- Everything loaded so far is then moved out of the garbage collector's sight (`gc.freeze`): it
  lives as long as the worker, and a full collection would otherwise walk all of it again every
  few seconds. With 10 000 kept-alive connections a worker's full collection took 170-360 ms, a
  pause of every request it holds (bench/README.md, "The fleet").
"""

import gc
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from energyleaf.common.admission import admission_limited
from energyleaf.common.corked import Corked

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.base")

application = Corked(
    admission_limited(
        get_wsgi_application(),
        limit=settings.WEB_ADMISSION_LIMIT,
        timeout=settings.WEB_ADMISSION_TIMEOUT,
    )
)
get_resolver().url_patterns  # noqa: B018 - imports the URL configuration and the views
gc.collect()
gc.freeze()
gc.set_threshold(700, 10, 100)
