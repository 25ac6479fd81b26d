"""The `/api/v1/token` rate limits hold under concurrent load on several server workers.

The web server with three worker processes, the production settings and the Redis cache (the
shared cache a deployment sets with DJANGO_CACHE_URL) answers many concurrent clients: per MAC and
per address, no more requests get through than the configured rate, whichever worker serves them,
however the MAC is spelt, and whatever X-Forwarded-For the client invents.
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from energyleaf.tests.helpers import database_url_or_skip, process_stop
from energyleaf.users.tests.factories import UserFactory
from sensors.protobuf import mapping
from sensors.services import sensor_register

from .helpers import (
    HOST,
    ROOT,
    STOP_TIMEOUT,
    LiveServer,
    free_port,
    server_command,
    wait_until_serving,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PER_CLIENT = 5
PER_ADDRESS = 30
WORKERS = 3
MAC = "5C:CF:7F:AB:CD:EF"


@pytest.fixture
def throttled_server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[LiveServer]:
    """The web server (3 worker processes) with the Redis cache and small token rate limits."""
    from django.db import connection

    prefix = f"throttle-e2e-{secrets.token_hex(6)}"
    cache_url = f"{redis_url}?key_prefix={prefix}"
    var_dir = tmp_path_factory.mktemp("throttle-var")
    port = free_port()
    command, server_env = server_command(os.environ.get("ENERGYLEAF_E2E_SERVER", ""), port)
    env = dict(os.environ)
    env.update(server_env)
    env.update(
        {
            "WEB_WORKERS": str(WORKERS),
            "GUNICORN_WORKERS": str(WORKERS),
            "DJANGO_SETTINGS_MODULE": "energyleaf.settings.base",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DJANGO_CACHE_URL": cache_url,
            "DATABASE_URL": database_url_or_skip(connection.settings_dict, "the web server"),
            "CELERY_BROKER_URL": "memory://",
            "ENERGYLEAF_VAR_DIR": str(var_dir),
            "ENERGYLEAF_TOKEN_RATE_PER_CLIENT": f"{PER_CLIENT}/min",
            "ENERGYLEAF_TOKEN_RATE_PER_ADDRESS": f"{PER_ADDRESS}/min",
        }
    )
    env.pop("DJANGO_NUM_PROXIES", None)
    stderr_path = Path(var_dir) / "server.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    server = LiveServer(HOST, port, process, stderr_path)
    try:
        wait_until_serving(process, port)
        yield server
    finally:
        process_stop(process, timeout=STOP_TIMEOUT)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def _post_token(server: LiveServer, client_id: str, forwarded_for: str | None = None) -> int:
    body = mapping.encode_token_request(mapping.TokenRequestData(client_id, 1, False))
    headers = {"Content-Type": "application/x-protobuf", "Connection": "close"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("POST", "/api/v1/token", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def _concurrently(jobs: list[tuple[str, str | None]], server: LiveServer) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = pool.map(lambda job: _post_token(server, *job), jobs)
        return Counter(statuses)


def _start_of_a_minute() -> None:
    """Wait for a fresh minute when less than half of this one is left: the limits count per
    minute with the previous minute's count carried over in part, so a batch that crosses a
    minute boundary on a slow machine is admitted a little more than the per-minute limit."""
    into_minute = time.time() % 60
    if into_minute > 30:
        time.sleep(60.5 - into_minute)


def test_token_rate_limits_hold_across_workers(throttled_server: LiveServer) -> None:
    sensor_register(client_id=MAC, user=UserFactory())
    _start_of_a_minute()

    # One MAC, spelt three ways, from 12 concurrent connections spread over the workers.
    spellings = [MAC, MAC.lower(), f" {MAC} "]
    per_mac = _concurrently([(spellings[i % 3], None) for i in range(24)], throttled_server)
    assert set(per_mac) <= {200, 429}, per_mac
    assert 1 <= per_mac[200] <= PER_CLIENT, per_mac

    # One address, many MACs (unknown ones are 404 once past the limits), with invented
    # X-Forwarded-For headers that must not count as other addresses.
    jobs: list[tuple[str, str | None]] = [
        (f"02:00:00:00:{i // 256:02X}:{i % 256:02X}", f"198.51.100.{i % 250}") for i in range(48)
    ]
    per_address = _concurrently(jobs, throttled_server)
    assert set(per_address) <= {404, 429}, per_address
    # The address counter already holds the 24 requests above.
    admitted = sum(per_mac.values()) + per_address[404]
    assert admitted <= PER_ADDRESS, (per_mac, per_address)
    assert per_address[429] >= len(jobs) - (PER_ADDRESS - sum(per_mac.values()))
