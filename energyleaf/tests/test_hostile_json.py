"""Deeply nested or huge JSON is a 400 (or 413) in the endpoint's own format on every endpoint
that reads JSON, never a 500: every operation of the OpenAPI schema with a request body, the
JWT endpoints, the sensors' JSON batch and the ML endpoint."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from energyleaf.common.parsers import InvalidJsonError, json_loads_limited
from energyleaf.tests.helpers import client_for
from energyleaf.tests.security_world import world_build
from energyleaf.tests.test_security_walk import ADMIN_ONLY, OPERATIONS, PUBLIC, fill

pytestmark = pytest.mark.django_db

HOSTILE = {
    "100 KB of [": b"[" * 100_000,
    "10 000 nested objects": (b'{"a":' * 10_000) + b"1" + (b"}" * 10_000),
    "10 000 nested arrays, closed": b"[" * 10_000 + b"]" * 10_000,
    "100 nested objects, valid JSON": (b'{"a":' * 100) + b"1" + (b"}" * 100),
}
WITH_BODY = [operation for operation in OPERATIONS if operation.has_body]


def test_the_schema_has_json_operations_to_check() -> None:
    assert {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/ml")} <= {
        operation.key for operation in WITH_BODY
    }


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("operation", WITH_BODY, ids=[operation.id for operation in WITH_BODY])
def test_every_json_operation_answers_400_in_the_api_error_shape(operation, body: bytes) -> None:
    world = world_build()
    request = fill(operation, world, world.a)
    client = APIClient()
    if operation.key in ADMIN_ONLY:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.admin_jwt}")
    elif operation.key not in PUBLIC:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.a.jwt}")
    response = client.generic(operation.method, request.url, body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    assert set(answer) == {"message", "code", "extra"}
    assert answer["code"] == "parse_error"


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/ml"])
def test_a_body_over_the_upload_limit_is_413(path: str, admin_user) -> None:
    client = client_for(admin_user)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = client.generic(
            "POST", path, json.dumps({"email": "x" * 2000}), content_type="application/json"
        )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_sensor_json_batch_answers_400_as_json(client, body: bytes) -> None:
    response = client.generic(
        "POST", "/api/v1/sensor_input/batch", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"status": 400, "status_message": "Invalid data"}


def test_depth_limit_counts_arrays_and_objects_and_leaves_flat_data_alone() -> None:
    flat = {"readings": [{"value": i, "timestamp": i} for i in range(5000)]}
    assert json_loads_limited(json.dumps(flat).encode()) == flat
    deep_ok = json.dumps([[[[{"a": [1]}]]]])
    assert json_loads_limited(deep_ok, max_depth=6) == [[[[{"a": [1]}]]]]
    with pytest.raises(InvalidJsonError, match="deeper than 5"):
        json_loads_limited(deep_ok, max_depth=5)
    with pytest.raises(InvalidJsonError):
        json_loads_limited(b"[NaN]")
    with pytest.raises(InvalidJsonError):
        json_loads_limited(b"\xff")
