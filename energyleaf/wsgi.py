"""WSGI entry point (gunicorn: `gunicorn -c gunicorn.conf.py energyleaf.wsgi`).

The Django application behind the admission limit (energyleaf/common/admission.py), which is on
when the database connections come from a pool (`ENERGYLEAF_WEB_ADMISSION_LIMIT`). The live-reading
paths of the sensors take a lane with a shorter middleware chain (energyleaf/common/lanes.py,
`SENSOR_LANE_*` in the settings); every other path the full one. Each worker loads this module
once, before it accepts connections:

- The URL configuration, and with it every view module, is imported now rather than in the
  worker's first request: under gevent that import blocks the whole worker for seconds while
  thousands of sensors are connecting.
- Everything loaded so far is then moved out of the garbage collector's sight (`gc.freeze`): it
  lives as long as the worker, and a full collection would otherwise walk all of it again.
  Measured in a worker holding 5 000 sensors' connections: a full collection every 2.5-5 s,
  170-360 ms each before the freeze, 80-160 ms after it; each is a pause of every request the
  worker holds. Full collections are also made ten times rarer (the third threshold 100 instead
  of 10; the two young generations keep Python's defaults); that change was not measured on
  its own.
"""

import gc
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from energyleaf.common.admission import admission_limited
from energyleaf.common.corked import Corked
from energyleaf.common.lanes import LanedApplication, short_chain_for

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energyleaf.settings.base")

django_application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports the URL configuration and the views
sensor_lane = short_chain_for(
    settings.SENSOR_LANE_URL_NAMES, settings.SENSOR_LANE_SKIPPED_MIDDLEWARE
)
application = Corked(
    admission_limited(
        LanedApplication(django_application, dict.fromkeys(sensor_lane.matches, sensor_lane)),
        limit=settings.WEB_ADMISSION_LIMIT,
        timeout=settings.WEB_ADMISSION_TIMEOUT,
    )
)
gc.collect()
gc.freeze()
gc.set_threshold(700, 10, 100)
