"""Property-based API testing with schemathesis: no operation answers 5xx, whatever it is sent.

The OpenAPI schema is generated in-process and every operation gets a bounded number of generated
requests through the WSGI application (schemathesis' positive and negative generation: parameters
and bodies valid for the schema and not), with a household's JWT and with an admin's JWT, on a
database holding two households' data (the security walk's world). The only check is
`not_a_server_error`. The run is derandomized, so CI runs the same examples every time;
`ENERGYLEAF_SCHEMATHESIS_EXAMPLES` (default 10 per operation and user) raises the count for a
longer run by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from energyleaf.tests.security_world import World, world_build

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("ENERGYLEAF_SCHEMATHESIS_EXAMPLES", "10"))


def _schema() -> Any:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = get_wsgi_application()
    return schema


SCHEMA = _schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def world() -> Iterator[World]:
    """The walk's world; the WSGI handler keeps the test's connection open (as Django's test
    client does), or it would close it and its transaction after each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield world_build()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _expected_unavailable(case: Any, response: Any) -> bool:
    """No classifier is trained here (training takes seconds): the ML endpoint then answers its
    documented 503 `classifier_unavailable` to a valid request, which is not a crash."""
    if case.path != "/api/v1/ml" or response.status_code != 503:
        return False
    return bool(response.json().get("code") == "classifier_unavailable")


def _run(operation: Any, jwt: str, label: str) -> None:
    failures: list[str] = []

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {jwt}"})
        if _expected_unavailable(case, response):
            return
        if response.status_code >= 500:
            failures.append(
                f"{label} {case.method} {case.formatted_path} query={case.query} "
                f"body={case.body!r:.300} -> {response.status_code} {response.text[:300]}"
            )
        case.validate_response(response, checks=[not_a_server_error])

    try:
        check()
    except Exception as exc:
        detail = "\n".join(failures) or str(exc)
        pytest.fail(f"{operation.label}: server error\n{detail}", pytrace=False)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_server_error(operation: Any, world: World) -> None:
    _run(operation, world.b.jwt, "household")
    _run(operation, world.admin_jwt, "admin")
