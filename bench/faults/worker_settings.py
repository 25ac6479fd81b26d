"""Settings of the fault suite's Celery worker: the production settings, plus faster sweeps for
messages of dead workers.

kombu's Redis transport looks for unacknowledged messages older than the visibility timeout only
every `unacked_restore_interval * unacked_restore_throttle` seconds (10 * 10 by default), so a
task of a SIGKILLed worker comes back after visibility timeout + up to 100 s. The suite runs with
a 10 s visibility timeout and sweeps every second, so that redelivery fits in a CI run; nothing
else differs from `energyleaf.settings.base`.
"""

from energyleaf.settings.base import *  # noqa: F403
from energyleaf.settings.base import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
