"""The Redis transport keeps a worker alive when the broker connection is gone while it holds
unacknowledged messages (kombu fails there with AttributeError; see energyleaf/celery_broker.py).
Real Redis, real kombu channels; the queue names are unique per run."""

from __future__ import annotations

import secrets

import pytest
import redis
from django.conf import settings
from kombu import Connection, Exchange, Queue

from energyleaf.celery_broker import Transport


@pytest.fixture
def names() -> str:
    return f"broker-probe-{secrets.token_hex(4)}"


def _hold_one_unacked(connection: Connection, name: str):  # type: ignore[no-untyped-def]
    """A channel that received one message and has not acknowledged it."""
    channel = connection.channel()
    queue = Queue(name, Exchange(name), name, channel=channel)
    queue.declare()
    connection.Producer(channel=channel).publish(
        {"n": 1}, exchange=name, routing_key=name, declare=[queue]
    )
    message = queue.get(no_ack=False)
    assert message is not None
    assert len(channel.qos._delivered) == 1
    return channel, queue


def test_kombu_alone_fails_on_a_connection_that_is_already_gone(redis_url: str, names: str) -> None:
    """What the fix is for: the plain transport raises, and Celery stops the worker on it."""
    with Connection(redis_url) as connection:
        channel, queue = _hold_one_unacked(connection, names)
        connection._do_close_transport()  # the transport is detached, as on a lost broker
        with pytest.raises(AttributeError):
            channel.close()
    with Connection(redis_url) as cleanup:
        queue.bind(cleanup.channel()).delete()


def test_our_transport_logs_and_leaves_the_message_for_the_visibility_timeout(
    redis_url: str, names: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Connection(redis_url, transport=Transport) as connection:
        channel, queue = _hold_one_unacked(connection, names)
        connection._do_close_transport()
        channel.close()  # no AttributeError
    assert "1 unacknowledged message(s) stay in Redis" in caplog.text
    # the message is still in Redis's unacked hash, to be handed out again later
    client = redis.Redis.from_url(redis_url)
    assert client.hlen("unacked") >= 1
    # What a worker's sweep does once the visibility timeout has passed (0 s here).
    options = {"visibility_timeout": 0}
    with Connection(redis_url, transport=Transport, transport_options=options) as again:
        queue = queue.bind(again.channel())
        again.default_channel.qos.restore_visible()
        assert queue.get(no_ack=True) is not None
        queue.delete()


@pytest.mark.parametrize("settle", ["ack", "reject"])
def test_settling_a_message_of_a_closed_connection_is_skipped(
    redis_url: str, names: str, settle: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A task that ran through the outage finishes after the worker reconnected: its message
    belongs to the old channel."""
    with Connection(redis_url, transport=Transport) as connection:
        channel, queue = _hold_one_unacked(connection, names)
        (tag,) = list(channel.qos._delivered)
        connection._do_close_transport()
        getattr(channel, f"basic_{settle}")(tag)  # no AttributeError
        channel.close()
    assert "closed broker connection skipped" in caplog.text
    with Connection(redis_url) as cleanup:
        queue.bind(cleanup.channel()).delete()


def test_an_open_connection_restores_unacked_messages_at_once(redis_url: str, names: str) -> None:
    with Connection(redis_url, transport=Transport) as connection:
        channel, queue = _hold_one_unacked(connection, names)
        channel.close()  # restored to the queue straight away, as kombu does
        queue = queue.bind(connection.channel())
        assert queue.get(no_ack=True) is not None
        queue.delete()


def test_redis_brokers_use_it() -> None:
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        assert getattr(settings, "CELERY_BROKER_TRANSPORT", None) in (None, "")
    else:
        assert settings.CELERY_BROKER_TRANSPORT == "energyleaf.celery_broker:Transport"
