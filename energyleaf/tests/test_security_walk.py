"""Walk every operation of the OpenAPI schema and try to get in where one must not.

For every path and method that drf-spectacular documents:

* without credentials: 401 or 403, unless the operation is in `PUBLIC` (JWT login);
* with household B's JWT and every path, query and body parameter naming household A's objects:
  403 or 404, none of A's rows created, changed or deleted, and none of A's marker strings in
  the body; operations that name nothing of A (B's own data) may answer 2xx but must not leak A;
* admin-only operations (`ADMIN_ONLY`): 403 for a household, not refused for an admin;
* the owner (A, or the admin for admin-only operations) with the same parameters is let in, so a
  403/404 above is the access check and not a badly filled parameter.

Parameters and bodies are filled from `PARAMETERS` and `BODIES`. An operation with a parameter
or a body the walk does not know, or an operation in no class, fails with a message naming what
to add, so a new endpoint cannot slip through unchecked. Views outside the schema are listed in
`OUTSIDE_SCHEMA` with their own check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from energyleaf.tests.helpers import body_text
from energyleaf.tests.security_world import Household, World, owned_rows, rows_diff, world_build

pytestmark = pytest.mark.django_db

Method = str
Path = str
OperationKey = tuple[Method, Path]

# --- Classification of every operation ------------------------------------------------------------
# Reachable without any credentials (they are how one gets credentials).
PUBLIC: frozenset[OperationKey] = frozenset(
    {
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/token/refresh"),
        ("POST", "/api/v1/auth/token/verify"),
    }
)
# Refused to every household, allowed to staff holding the permission (the walk uses a superuser;
# every role is in test_permission_matrix.py).
ADMIN_ONLY: frozenset[OperationKey] = frozenset(
    {
        ("GET", "/api/v1/csv_experiment"),
        ("POST", "/api/v1/csv_experiment/mark_exported"),
        ("POST", "/api/v1/ml"),
        ("PATCH", "/api/v1/sensors/{sensor_id}/settings"),
    }
)
# Everything else documented is a household operation: JWT required, own data only.

# --- How to fill parameters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fill:
    """How to fill a parameter or body. `owned` inputs name a household's objects: the walk fills
    them with A's objects (one at a time, the others with the caller's own) to attack, and with
    the caller's own to check the rightful caller. `value` returning None leaves it out."""

    value: Callable[[World, Household], Any]
    owned: bool = False


# By parameter name (path, query and header parameters alike).
PARAMETERS: dict[str, Fill] = {
    "device_id": Fill(lambda w, h: h.device.pk, owned=True),
    "peak_id": Fill(lambda w, h: h.peak.pk, owned=True),
    "report_id": Fill(lambda w, h: h.report.pk, owned=True),
    "user": Fill(lambda w, h: h.user.pk, owned=True),
    "sensor": Fill(lambda w, h: h.sensor.pk, owned=True),
    "sensor_id": Fill(lambda w, h: h.sensor.pk, owned=True),
    "name": Fill(lambda w, h: "consumption"),  # a report chart (with report_id)
    "start": Fill(lambda w, h: "2024-07-01"),
    "end": Fill(lambda w, h: "2024-07-02"),
    "resolution": Fill(lambda w, h: "day"),
    "kind": Fill(lambda w, h: "peak"),
    "tz": Fill(lambda w, h: "utc"),
    "status": Fill(lambda w, h: "approved"),
    "all_statuses": Fill(lambda w, h: "true"),
    "X-Api-Key": Fill(lambda w, h: None),  # the walk uses JWTs; the key has its own tests
}

# Request bodies by (method, path).
_ML_PEAK = {
    "id": "walk",
    "electricity": [
        {"timestamp": "2024-07-01T12:00:00Z", "power": 2100.0},
        {"timestamp": "2024-07-01T12:00:15Z", "power": 2150.0},
    ],
}
BODIES: dict[OperationKey, Fill] = {
    ("POST", "/api/v1/auth/token"): Fill(
        lambda w, h: {"email": w.a.user.email, "password": "wrong password"}
    ),
    ("POST", "/api/v1/auth/token/refresh"): Fill(lambda w, h: {"refresh": "not-a-token"}),
    ("POST", "/api/v1/auth/token/verify"): Fill(lambda w, h: {"token": "not-a-token"}),
    ("POST", "/api/v1/csv_experiment/mark_exported"): Fill(
        lambda w, h: {"user_ids": [h.user.pk]}, owned=True
    ),
    ("POST", "/api/v1/devices"): Fill(
        lambda w, h: {"name": "walk-device", "category": "kettle", "power_w": 1500}
    ),
    ("PATCH", "/api/v1/devices/{device_id}"): Fill(lambda w, h: {"name": "renamed-by-walk"}),
    ("POST", "/api/v1/ml"): Fill(lambda w, h: _ML_PEAK),
    ("POST", "/api/v1/peaks/{peak_id}/devices"): Fill(
        lambda w, h: {"device_id": h.device.pk}, owned=True
    ),
    ("PATCH", "/api/v1/reports/settings"): Fill(lambda w, h: {"interval_days": 5}),
    ("PATCH", "/api/v1/sensors/{sensor_id}/settings"): Fill(
        lambda w, h: {"analog_rotations_per_kwh": 96}
    ),
    ("PATCH", "/api/v1/me"): Fill(lambda w, h: {"household": {"tariff": "eco"}}),
}
BODY = "(request body)"

# What the rightful caller gets: 2xx, except where listed (no classifier is trained in the walk,
# so the ML endpoint lets the admin in and then answers 503 `classifier_unavailable`).
OWNER_OK = range(200, 300)
OWNER_STATUS: dict[OperationKey, frozenset[int]] = {
    ("POST", "/api/v1/ml"): frozenset({200, 503}),
    # The world's readings are of 2024: the current report period has none (409, nothing kept).
    ("POST", "/api/v1/reports/generate"): frozenset({200, 201, 409}),
}


@dataclass(frozen=True, slots=True)
class Operation:
    method: Method
    path: Path
    parameters: tuple[dict[str, Any], ...]
    has_body: bool

    @property
    def key(self) -> OperationKey:
        return (self.method, self.path)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def schema_operations() -> list[Operation]:
    """Every operation of the OpenAPI schema, generated in-process."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in sorted(schema["paths"].items()):
        for method, operation in sorted(methods.items()):
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    parameters=tuple(operation.get("parameters", ())),
                    has_body="requestBody" in operation,
                )
            )
    return operations


OPERATIONS = schema_operations()


@dataclass(slots=True)
class Filled:
    url: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    names_victim: str | None  # the input naming A's object, if any


def owned_inputs(operation: Operation) -> list[str]:
    """Names of the operation's inputs that name a household's objects (BODY for the body)."""
    names = [p["name"] for p in operation.parameters if _filler(operation, p).owned]
    if operation.has_body and _body_filler(operation).owned:
        names.append(BODY)
    return names


def _filler(operation: Operation, parameter: dict[str, Any]) -> Fill:
    filler = PARAMETERS.get(parameter["name"])
    if filler is None:
        pytest.fail(
            f"{operation.id}: the security walk does not know how to fill the "
            f"{parameter['in']} parameter {parameter['name']!r}; add it to PARAMETERS in "
            f"{__file__}",
            pytrace=False,
        )
    return filler


def _body_filler(operation: Operation) -> Fill:
    builder = BODIES.get(operation.key)
    if builder is None:
        pytest.fail(
            f"{operation.id}: the security walk has no request body for this operation; "
            f"add one to BODIES in {__file__}",
            pytrace=False,
        )
    return builder


def fill(
    operation: Operation, world: World, caller: Household, victim_input: str | None = None
) -> Filled:
    """The request of `operation`: owned inputs name the caller's objects, except
    `victim_input`, which names A's. Fails naming what to add when an input is unknown."""
    url, query, headers = operation.path, {}, {}

    def household_for(name: str) -> Household:
        return world.a if name == victim_input else caller

    for parameter in operation.parameters:
        name, where = parameter["name"], parameter["in"]
        value = _filler(operation, parameter).value(world, household_for(name))
        if value is None:
            continue
        if where == "path":
            url = url.replace("{" + name + "}", str(value))
        elif where == "query":
            query[name] = value
        elif where == "header":
            headers[name] = str(value)
        else:
            pytest.fail(f"{operation.id}: parameter {name!r} in {where!r} is not supported")
    body = None
    if operation.has_body:
        body = _body_filler(operation).value(world, household_for(BODY))
    return Filled(url, query, headers, body, victim_input)


def call(operation: Operation, request: Filled, jwt: str | None) -> Any:
    client = APIClient()
    headers = dict(request.headers)
    if jwt is not None:
        headers["Authorization"] = f"Bearer {jwt}"
    url = request.url
    if request.query:
        from urllib.parse import urlencode

        url = f"{url}?{urlencode(request.query)}"
    return client.generic(
        operation.method,
        url,
        json.dumps(request.body) if request.body is not None else "",
        content_type="application/json",
        headers=headers,
    )


def leaked_markers(text: str, markers: tuple[str, ...]) -> list[str]:
    lowered = text.lower()
    return [marker for marker in markers if marker.lower() in lowered]


@pytest.fixture
def world() -> World:
    return world_build()


def test_every_operation_is_classified_and_fillable() -> None:
    """Fails for a new operation, parameter or body the walk does not know, naming it."""
    known = set(PARAMETERS)
    problems = []
    keys = {operation.key for operation in OPERATIONS}
    for operation in OPERATIONS:
        problems.extend(
            f"{operation.id}: unknown parameter {parameter['name']!r}"
            for parameter in operation.parameters
            if parameter["name"] not in known
        )
        if operation.has_body and operation.key not in BODIES:
            problems.append(f"{operation.id}: no request body in BODIES")
    problems.extend(
        f"{listed}: listed in the walk but not in the schema any more"
        for listed in sorted(PUBLIC | ADMIN_ONLY | set(BODIES) | set(OWNER_STATUS))
        if listed not in keys
    )
    assert not problems, "\n".join(problems)
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.id)
def test_unauthenticated_is_refused(operation: Operation, world: World) -> None:
    request = fill(operation, world, world.a)
    before = owned_rows(world.a.user)
    response = call(operation, request, jwt=None)
    assert response.status_code < 500, body_text(response)
    if operation.key in PUBLIC:
        assert response.status_code in (400, 401), body_text(response)
    else:
        assert response.status_code in (401, 403), (
            f"{operation.id} answered {response.status_code} without credentials"
        )
    assert not leaked_markers(body_text(response), world.a.markers)
    assert rows_diff(before, owned_rows(world.a.user)) == []


ATTACKED = [operation for operation in OPERATIONS if operation.key not in PUBLIC]


@pytest.mark.parametrize("operation", ATTACKED, ids=lambda operation: operation.id)
def test_other_household_gets_nothing_of_a(operation: Operation, world: World) -> None:
    """B calls the operation once per input that can name A's objects (that input naming A's,
    the others B's own), and once naming only its own when nothing can name A's."""
    for victim_input in owned_inputs(operation) or [None]:
        request = fill(operation, world, world.b, victim_input)
        attempt = f"{operation.id} with {victim_input or 'only its own objects'} "
        before = owned_rows(world.a.user)
        response = call(operation, request, jwt=world.b.jwt)
        text = body_text(response)
        status = response.status_code
        assert status < 500, f"{attempt}: {status} {text[:300]}"
        if operation.key in ADMIN_ONLY:
            assert status == 403, f"{attempt}: household B got {status}, not 403"
        elif victim_input is not None:
            assert status in (403, 404), (
                f"{attempt} naming A's object: household B got {status}: {text[:300]}"
            )
        leaks = leaked_markers(text, world.a.markers)
        assert not leaks, f"{attempt}: A's data in B's answer: {leaks}"
        changes = rows_diff(before, owned_rows(world.a.user))
        assert not changes, f"{attempt}: B's request changed A's data: {changes}"


@pytest.mark.parametrize("operation", ATTACKED, ids=lambda operation: operation.id)
def test_rightful_caller_is_let_in(operation: Operation, world: World) -> None:
    """A itself with its own objects (the admin for admin-only operations and for `user=`, which
    some endpoints refuse to households even for their own id) is answered 2xx: the refusals
    above come from the access checks, not from badly filled parameters."""
    request = fill(operation, world, world.a)
    admin = operation.key in ADMIN_ONLY or "user" in request.query
    jwt = world.admin_jwt if admin else world.a.jwt
    response = call(operation, request, jwt=jwt)
    allowed = OWNER_STATUS.get(operation.key, OWNER_OK)
    assert response.status_code in allowed, (
        f"{operation.id}: the rightful caller got {response.status_code}: "
        f"{body_text(response)[:300]} (is the parameter filling right?)"
    )


def test_admin_only_operations_are_refused_to_households_naming_their_own(world: World) -> None:
    for operation in OPERATIONS:
        if operation.key in ADMIN_ONLY:
            response = call(operation, fill(operation, world, world.a), jwt=world.a.jwt)
            assert response.status_code == 403, operation.id


# --- Views outside the OpenAPI schema ------------------------------------------------------------
# route prefix -> how it keeps strangers out (checked below).
OUTSIDE_SCHEMA: dict[str, str] = {
    "api/v1/token": "sensor",
    "api/v1/sensor_input": "sensor",
    "api/v1/sensor_input/batch": "sensor",
    "api/v1/script_accepted": "sensor",
    "api/v2/energy": "sensor",
    "api/v2/gas": "sensor",
    "api/v2/water": "sensor",
    "api/v1/mark_peaks": "cron",
    "api/v1/anomaly": "cron",
    "unsubscribe": "signed-token",
    "api/schema/": "public",
    "api/docs/": "public",
    "": "public",  # the front page
    "health": "public",  # database, broker, beat, detection: no data of anyone
}


def _routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    found = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith("admin/") or route == "admin/":
                continue
            found.extend(_routes(pattern, route))
        elif isinstance(pattern, URLPattern):
            found.append(route)
    return found


def _route_as_schema_path(route: str) -> str:
    import re

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_route_is_in_the_schema_or_listed() -> None:
    from django.conf import settings

    documented = {operation.path for operation in OPERATIONS}
    missing = []
    for route in _routes(get_resolver()):
        if route.startswith(settings.ADMIN_URL):
            continue
        if _route_as_schema_path(route) in documented or route in OUTSIDE_SCHEMA:
            continue
        missing.append(route)
    assert not missing, (
        f"routes neither in the OpenAPI schema nor in OUTSIDE_SCHEMA of {__file__}: {missing}"
    )


@pytest.mark.parametrize(
    "route", sorted(OUTSIDE_SCHEMA), ids=lambda route: route.strip("/") or "root"
)
def test_routes_outside_the_schema_keep_strangers_out(route: str, world: World) -> None:
    kind = OUTSIDE_SCHEMA[route]
    client = APIClient()
    before = owned_rows(world.a.user)
    if kind == "sensor":
        # B's JWT is no sensor credential; an unknown token is 401, an unknown MAC 404.
        response = client.generic(
            "POST",
            f"/{route}",
            b"\x0a\x1eAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x10\x01\x19\x00\x00\x00\x00\x00\x00\xf0?",
            content_type="application/x-protobuf",
            headers={"Authorization": f"Bearer {world.b.jwt}"},
        )
        assert response.status_code in (400, 401, 404), route
    elif kind == "cron":
        response = client.get(f"/{route}", headers={"Authorization": f"Bearer {world.b.jwt}"})
        assert response.status_code == 401
    elif kind == "signed-token":
        for token in ("", str(world.a.user.pk), world.b.jwt):
            response = client.get(f"/{route}", {"token": token})
            assert response.status_code == 400
            assert not leaked_markers(body_text(response), world.a.markers)
            response = client.post(f"/{route}", {"token": token}, format="multipart")
            assert response.status_code in (400, 403)
    else:
        response = client.get(f"/{route}")
        assert response.status_code == 200
    assert not leaked_markers(body_text(response), world.a.markers)
    assert rows_diff(before, owned_rows(world.a.user)) == []
