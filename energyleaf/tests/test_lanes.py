"""The sensor lane (energyleaf/common/lanes.py): the live-reading paths answer through a shorter
middleware chain exactly as through the full one, and nothing else takes the lane."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings

from energyleaf.common.lanes import LanedApplication, ShortChainHandler, short_chain_for
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, Sensor
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.services import sensor_register, sensor_token_issue

Answer = tuple[str, list[tuple[str, str]], bytes]

LANE_PATHS = ("/api/v1/sensor_input", "/api/v2/energy", "/api/v2/gas", "/api/v2/water")


@pytest.fixture
def connection_kept() -> Iterator[None]:
    """Django's handlers close an obsolete database connection around each request; the test
    keeps one connection across its requests and queries, as Django's own test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _sensor_lane() -> ShortChainHandler:
    """The lane as energyleaf/wsgi.py builds it."""
    return short_chain_for(settings.SENSOR_LANE_URL_NAMES, settings.SENSOR_LANE_SKIPPED_MIDDLEWARE)


def _call(
    application: Callable[..., Any],
    method: str,
    path: str,
    body: bytes = b"",
    **headers: str,
) -> Answer:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": "application/x-protobuf",
        "CONTENT_LENGTH": str(len(body)),
        **headers,
    }
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):  # type: ignore[no-untyped-def]
        started.update(status=status, headers=response_headers)

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return started["status"], started["headers"], content


def _twin_sensors(sensor_type: str) -> list[tuple[Sensor, str]]:
    """Two sensors registered alike, with their tokens: one is posted for through the full chain,
    the other through the lane, so that each request meets the same stored state."""
    twins = []
    for number in (1, 2):
        mac = f"5C:CF:7F:00:00:0{number}"
        sensor = sensor_register(client_id=mac, user=UserFactory(), sensor_type=sensor_type)
        twins.append((sensor, sensor_token_issue(client_id=mac, need_script=False).access_token))
    return twins


def _body(path: str, token: str, value: float) -> bytes:
    if path == "/api/v1/sensor_input":
        return pb.SensorDataRequestV2(access_token=token, type=1, value=value).SerializeToString()
    if path == "/api/v2/energy":
        return pb.EnergyDataRequest(access_token=token, value=value).SerializeToString()
    if path == "/api/v2/gas":
        return pb.GasDataRequest(access_token=token, value=value).SerializeToString()
    return pb.WaterDataRequest(access_token=token, value=value).SerializeToString()


_SENSOR_TYPE = {
    "/api/v1/sensor_input": Sensor.SensorType.ELECTRICITY,
    "/api/v2/energy": Sensor.SensorType.ELECTRICITY,
    "/api/v2/gas": Sensor.SensorType.GAS,
    "/api/v2/water": Sensor.SensorType.WATER,
}


def test_the_lane_runs_the_full_chain_without_the_skipped_middleware() -> None:
    lane = _sensor_lane()

    expected = [
        name for name in settings.MIDDLEWARE if name not in settings.SENSOR_LANE_SKIPPED_MIDDLEWARE
    ]
    assert list(lane.chain_paths) == expected
    assert "django.middleware.security.SecurityMiddleware" in lane.chain_paths
    assert "django.middleware.common.CommonMiddleware" in lane.chain_paths  # Host validation
    assert "django.middleware.csrf.CsrfViewMiddleware" not in lane.chain_paths
    assert set(lane.matches) == set(LANE_PATHS)


def test_middleware_added_later_runs_in_the_lane_too() -> None:
    added = "django.middleware.gzip.GZipMiddleware"
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, added]):
        assert added in _sensor_lane().chain_paths


def test_a_middleware_that_hooks_the_view_cannot_join_a_short_chain() -> None:
    with pytest.raises(ImproperlyConfigured, match="process_view"):
        ShortChainHandler(["django.middleware.csrf.CsrfViewMiddleware"], [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("connection_kept")
@pytest.mark.parametrize("path", LANE_PATHS)
def test_the_lane_answers_byte_for_byte_as_the_full_chain(path: str) -> None:
    full, lane = WSGIHandler(), _sensor_lane()
    (sensor_full, token_full), (sensor_lane, token_lane) = _twin_sensors(_SENSOR_TYPE[path])

    def both(method: str, body_of: Callable[[str], bytes] | None = None, **headers: str) -> None:
        answers = []
        for application, token in ((full, token_full), (lane, token_lane)):
            body = body_of(token) if body_of else b""
            answers.append(_call(application, method, path, body, **headers))
        assert answers[0] == answers[1], (method, headers)

    both("POST", lambda token: _body(path, token, 1000.0))  # stored
    both("POST", lambda token: _body(path, token, 1000.0))  # the same again
    both("POST", lambda token: _body(path, token, 1000.5), HTTP_ORIGIN="https://example.org")
    both("POST", lambda token: _body(path, "not-a-token", 1000.0))  # 401
    both("POST", lambda token: b"\xff\xff\xff not protobuf")  # 400 Invalid data
    both("POST")  # 400 No body
    both("POST", lambda token: _body(path, token, 1001.0), HTTP_HOST="evil.example")  # bad Host
    both("GET")
    both("OPTIONS", HTTP_ORIGIN="https://example.org")
    both("HEAD")

    def values(sensor: Sensor) -> list[object]:
        return list(Reading.objects.filter(sensor=sensor).order_by("id").values_list("value"))

    assert len(values(sensor_full)) == 2  # the first reading and the one with an Origin header
    assert values(sensor_full) == values(sensor_lane)


def test_only_the_lane_paths_take_the_lane() -> None:
    seen: list[str] = []

    def recorder(name: str) -> Callable[..., Any]:
        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            seen.append(name)
            start_response("204 No Content", [])
            return []

        return application

    laned = LanedApplication(recorder("full"), dict.fromkeys(LANE_PATHS, recorder("lane")))
    for path in (*LANE_PATHS, "/api/v1/sensor_input/", "/api/v1/token", "/admin/", "/"):
        laned({"PATH_INFO": path}, lambda *args: None)

    assert seen == ["lane"] * 4 + ["full"] * 4
