"""kombu's Redis transport with one fix: losing the broker cannot stop a worker.

When the connection to Redis drops while the worker holds unacknowledged messages (always the
case with late acknowledgement while a task runs), Celery closes the connection and kombu's QoS
tries to put those messages back in the queue. If the transport was already detached from its
connection by then, kombu 5.7 fails with `AttributeError: 'NoneType' object has no attribute
'hostname'`; Celery reports it as an unrecoverable error and the worker shuts down instead of
reconnecting (seen in bench/faults' `redis_down` scenario; reproduced in
energyleaf/tests/test_celery_broker.py).

The same holds for acknowledging or rejecting, after the worker reconnected, a message that
came over the old connection (a task that was running during the outage): kombu fails the same
way. Nothing can be put back, acknowledged or rejected over a connection that is gone anyway:
the messages are still in Redis's unacked hash, and a worker hands them out again once the
visibility timeout has passed (`CELERY_VISIBILITY_TIMEOUT`; the tasks are idempotent). So this
QoS logs that and lets Celery go on reconnecting.
Selected by `CELERY_BROKER_TRANSPORT` for redis:// brokers (settings).
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    """Restoring, acknowledging or rejecting messages of a channel whose connection is gone
    is logged and skipped instead of raising AttributeError inside kombu."""

    def _connection_gone(self) -> bool:
        return getattr(self.channel.connection, "client", None) is None

    def restore_unacked(self, client: Any = None) -> None:
        if client is None and self._connection_gone():
            delivered = self._delivered
            logger.warning(
                "broker connection already closed: %d unacknowledged message(s) stay in Redis"
                " and are handed out again after the visibility timeout",
                len(delivered) if delivered is not None else 0,
            )
            if delivered is not None:
                delivered.clear()
            return
        super().restore_unacked(client)

    def ack(self, delivery_tag: str) -> None:
        if self._connection_gone():
            logger.warning(
                "acknowledgement over a closed broker connection skipped: the message is"
                " handed out again after the visibility timeout (tasks are idempotent)"
            )
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if self._connection_gone():
            logger.warning(
                "rejection over a closed broker connection skipped: the message is handed out"
                " again after the visibility timeout"
            )
            return
        super().reject(delivery_tag, requeue=requeue)


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    QoS = QoS


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel
