"""Who may talk for a sensor: a stranger who knows a MAC cannot lock the sensor out, and a
deactivated household's sensor is refused (403) with its readings kept in the rejected log."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from django.test import override_settings
from django.utils import timezone

from energyleaf.audit.models import AuditEvent
from energyleaf.tests.helpers import body_bytes
from energyleaf.users.services import users_activate, users_deactivate
from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, RejectedReading, Sensor, SensorToken
from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.services import sensor_register, sensor_token_issue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

SENSOR_ADDRESS = "192.0.2.10"
STRANGER_ADDRESS = "198.51.100.66"
NOW_S = int(time.time())


def _token(client, client_id: str, address: str) -> pb.TokenResponse:  # type: ignore[no-untyped-def]
    body = mapping.encode_token_request(mapping.TokenRequestData(client_id, 1, False))
    response = client.generic(
        "POST", "/api/v1/token", body, content_type="application/x-protobuf", REMOTE_ADDR=address
    )
    message = pb.TokenResponse.FromString(body_bytes(response))
    assert message.status == response.status_code
    return message


def _send(client, path: str, message, address: str = SENSOR_ADDRESS) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    response = client.generic(
        "POST",
        path,
        message.SerializeToString(),
        content_type="application/x-protobuf",
        REMOTE_ADDR=address,
    )
    answer = pb.SensorDataResponse.FromString(body_bytes(response))
    assert answer.status == response.status_code
    return response.status_code, answer.status_message


def _reading(token: str, value: float, offset: int = 0) -> pb.SensorDataRequestV2:
    return pb.SensorDataRequestV2(
        access_token=token, type=1, value=value, timestamp=NOW_S - 600 + offset
    )


# --- A stranger who knows the MAC -----------------------------------------------------------------


def _stranger_cannot_lock_out(client, sensor: Sensor) -> None:  # type: ignore[no-untyped-def]
    own = _token(client, "5c-cf-7f-12-34-56", SENSOR_ADDRESS)
    assert own.status == 200
    assert _send(client, "/api/v1/sensor_input", _reading(own.access_token, 100.0)) == (200, "")

    stranger = [_token(client, sensor.client_id, STRANGER_ADDRESS).status for _ in range(30)]
    assert stranger.count(200) == 12  # the per-(MAC, address) limit
    assert set(stranger[12:]) == {429}

    # The token the sensor uses survived the flood, and the sensor still gets new ones.
    assert SensorToken.objects.filter(sensor=sensor).count() == 5
    assert _send(client, "/api/v1/sensor_input", _reading(own.access_token, 100.05, 15)) == (
        200,
        "",
    )
    again = _token(client, sensor.client_id, SENSOR_ADDRESS)
    assert again.status == 200
    assert _send(client, "/api/v1/sensor_input", _reading(again.access_token, 100.1, 30)) == (
        200,
        "",
    )
    assert Reading.objects.filter(sensor=sensor).count() == 3


def test_a_flood_from_one_address_cannot_lock_out_the_sensor(client, sensor, settings) -> None:
    settings.ENERGYLEAF_TOKEN_RATE_PER_CLIENT = "12/min"
    settings.ENERGYLEAF_TOKEN_RATE_PER_ADDRESS = "600/min"
    _stranger_cannot_lock_out(client, sensor)


def test_a_flood_cannot_lock_out_the_sensor_with_the_shared_redis_cache(
    client, sensor, settings, redis_url: str
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    settings.ENERGYLEAF_TOKEN_RATE_PER_CLIENT = "12/min"
    settings.ENERGYLEAF_TOKEN_RATE_PER_ADDRESS = "600/min"
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    with override_settings(CACHES=caches):
        _stranger_cannot_lock_out(client, sensor)
    redis.Redis.from_url(redis_url).flushdb()


def test_the_per_address_limit_still_counts_every_mac(client, settings) -> None:
    settings.ENERGYLEAF_TOKEN_RATE_PER_ADDRESS = "4/min"
    for index in range(6):
        sensor_register(client_id=f"5C:CF:7F:00:00:0{index}", user=UserFactory())
    statuses = [
        _token(client, f"5C:CF:7F:00:00:0{index}", STRANGER_ADDRESS).status for index in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert _token(client, "5C:CF:7F:00:00:05", SENSOR_ADDRESS).status == 200


def test_never_used_tokens_are_evicted_before_used_ones(client, sensor, settings) -> None:
    settings.ENERGYLEAF_SENSOR_MAX_LIVE_TOKENS = 3
    used = sensor_token_issue(client_id=sensor.client_id, need_script=False)
    assert _send(client, "/api/v1/sensor_input", _reading(used.access_token, 100.0)) == (200, "")
    assert SensorToken.objects.get().used_at is not None
    later = [
        sensor_token_issue(
            client_id=sensor.client_id,
            need_script=False,
            now=timezone.now() + timedelta(seconds=index + 1),
        )
        for index in range(5)
    ]
    assert SensorToken.objects.count() == 3
    # The used one and the two newest unused ones are live; the older unused ones are gone.
    for issue, live in [(used, True), (later[-1], True), (later[-2], True), (later[0], False)]:
        code, _ = _send(client, "/api/v1/sensor_input", _reading(issue.access_token, 100.0))
        assert (code != 401) is live


# --- A deactivated household ----------------------------------------------------------------------


@pytest.fixture
def deactivated(client, sensor) -> str:  # type: ignore[no-untyped-def]
    """A live, used token of the sensor, whose household was deactivated afterwards."""
    token = _token(client, sensor.client_id, SENSOR_ADDRESS).access_token
    assert _send(client, "/api/v1/sensor_input", _reading(token, 100.0)) == (200, "")
    users_deactivate(users=[sensor.user])
    return token


def test_a_deactivated_households_sensor_gets_no_token_and_the_refusal_is_audited(
    client, sensor, deactivated
) -> None:
    answer = _token(client, sensor.client_id, SENSOR_ADDRESS)
    assert (answer.status, answer.status_message) == (403, "Household deactivated")
    assert not answer.HasField("access_token")
    event = AuditEvent.objects.get(title="sensor/refused-household-inactive")
    assert (event.sensor_id, event.user_id) == (sensor.pk, sensor.user_id)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/sensor_input", lambda token: _reading(token, 100.05, 15)),
        ("/api/v2/energy", lambda token: pb.EnergyDataRequest(access_token=token, value=101.0)),
        (
            "/api/v1/sensor_input/batch",
            lambda token: batch_pb.SensorDataBatchRequest(
                access_token=token,
                readings=[batch_pb.BatchReading(value=101.0, timestamp=NOW_S - 585)],
            ),
        ),
    ],
)
def test_a_deactivated_households_readings_are_refused_403_and_kept_as_rejected(
    client, sensor, deactivated, path, message
) -> None:
    response = client.generic(
        "POST",
        path,
        message(deactivated).SerializeToString(),
        content_type="application/x-protobuf",
    )
    assert response.status_code == 403
    decoded = (
        batch_pb.SensorDataBatchResponse if path.endswith("batch") else pb.SensorDataResponse
    ).FromString(body_bytes(response))
    assert (decoded.status, decoded.status_message) == (403, "Household deactivated")
    assert Reading.objects.filter(sensor=sensor).count() == 1
    rejected = RejectedReading.objects.get(sensor=sensor)
    assert rejected.reason == RejectedReading.Reason.HOUSEHOLD_INACTIVE
    assert rejected.status_message == "Household deactivated"
    assert "access_token" not in rejected.payload


def test_json_batch_and_script_accepted_are_refused_too(client, sensor, deactivated) -> None:
    response = client.post(
        "/api/v1/sensor_input/batch",
        {"access_token": deactivated, "readings": [{"value": 101.0, "timestamp": NOW_S - 585}]},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json() == {"status": 403, "status_message": "Household deactivated"}
    accepted = client.generic(
        "POST",
        "/api/v1/script_accepted",
        pb.ScriptAcceptedRequest(access_token=deactivated).SerializeToString(),
    )
    answer = pb.ScriptAcceptedResponse.FromString(body_bytes(accepted))
    assert (accepted.status_code, answer.status, answer.status_message) == (
        403,
        403,
        "Household deactivated",
    )


def test_reactivation_lets_the_sensor_in_again(client, sensor, deactivated) -> None:
    users_activate(users=[sensor.user])
    token = _token(client, sensor.client_id, SENSOR_ADDRESS)
    assert token.status == 200
    assert _send(client, "/api/v1/sensor_input", _reading(token.access_token, 100.05, 15)) == (
        200,
        "",
    )
