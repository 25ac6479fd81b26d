"""POST /api/v1/ml: authentication, the reference JSON shape, the energyleaf_ml protobuf shape,
errors, and that nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.api.protobuf.mapping import (
    MLPeakData,
    decode_ml_peak_response,
    encode_ml_peak_request,
)
from analytics.compute.classifier.artefact import artefact_load
from analytics.models import DeviceSuggestion
from energyleaf.tests.helpers import jwt_client, jwt_for
from energyleaf.users.tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/ml"
KEY = "ml-test-key-0123456789abcdef"
PROTOBUF = "application/x-protobuf"
T0 = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)


def _samples(watts: list[float], start: datetime = T0) -> list[dict[str, Any]]:
    return [
        {"timestamp": (start + timedelta(seconds=15 * (i + 1))).isoformat(), "power": w}
        for i, w in enumerate(watts)
    ]


KETTLE = [2150.0] * 12
WASHER = [2000.0] * 40 + [300.0, 150.0, 500.0, 120.0] * 30


@pytest.fixture
def keyed(settings: Any, trained_model: Path) -> APIClient:
    settings.ENERGYLEAF_ML_API_KEY = KEY
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=KEY)
    return client


def test_url_name() -> None:
    assert reverse("analytics:ml-classify") == URL


def test_json_single_peak_reference_shape(keyed: APIClient, trained_model: Path) -> None:
    model = artefact_load(trained_model)
    response = keyed.post(URL, {"id": "42", "electricity": _samples(KETTLE)}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"] == model.version
    (peak,) = body["peaks"]
    assert peak["id"] == "42"
    names = [device["name"] for device in peak["devices"]]
    assert sorted(names) == sorted(model.categories)
    confidences = [device["confidence"] for device in peak["devices"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert not DeviceSuggestion.objects.exists()


def test_json_several_peaks_keep_order_and_ids(keyed: APIClient) -> None:
    payload = {
        "peaks": [
            {"id": "a", "electricity": _samples(KETTLE)},
            {"electricity": _samples(WASHER)},
        ]
    }
    response = keyed.post(URL, payload, format="json")
    assert response.status_code == 200
    ids = [peak["id"] for peak in response.json()["peaks"]]
    assert ids == ["a", "1"]


def test_protobuf_round_trip(keyed: APIClient, trained_model: Path) -> None:
    model = artefact_load(trained_model)
    request = encode_ml_peak_request(
        [
            MLPeakData(
                id="p1", samples=tuple((s["timestamp"], s["power"]) for s in _samples(KETTLE))
            ),
            MLPeakData(
                id=None, samples=tuple((s["timestamp"], s["power"]) for s in _samples(WASHER))
            ),
        ]
    )
    response = keyed.generic("POST", URL, request, content_type=PROTOBUF)
    assert response.status_code == 200
    assert response["Content-Type"] == PROTOBUF
    items = decode_ml_peak_response(response.content)
    assert [item.id for item in items] == ["p1", "1"]
    assert {name for name, _ in items[0].devices} == set(model.categories)
    # the same probabilities as the JSON answer for the same samples (JSON: to 3 decimals)
    json_answer = keyed.post(URL, {"id": "p1", "electricity": _samples(KETTLE)}, format="json")
    by_name = {d["name"]: d["confidence"] for d in json_answer.json()["peaks"][0]["devices"]}
    assert {n: pytest.approx(c, abs=0.0005 + 1e-9) for n, c in items[0].devices} == by_name
    assert all(round(c, 3) == c for c in by_name.values())


def test_authentication(settings: Any, trained_model: Path) -> None:
    settings.ENERGYLEAF_ML_API_KEY = KEY
    body = {"electricity": _samples(KETTLE)}
    anonymous = APIClient()
    assert anonymous.post(URL, body, format="json").status_code == 401
    wrong = APIClient()
    wrong.credentials(HTTP_X_API_KEY=KEY + "x")
    assert wrong.post(URL, body, format="json").status_code == 401
    raw = APIClient()
    raw.credentials(HTTP_AUTHORIZATION=KEY)  # the reference's clients send the bare key
    assert raw.post(URL, body, format="json").status_code == 200

    household = jwt_client(jwt_for(UserFactory()))
    response = household.post(URL, body, format="json")
    assert response.status_code == 403
    assert set(response.json()) == {"message", "code", "extra"}

    staff = jwt_client(jwt_for(StaffFactory()))
    assert staff.post(URL, body, format="json").status_code == 403  # staff without the role

    researcher = jwt_client(jwt_for(StaffFactory(roles=["researcher"])))
    assert researcher.post(URL, body, format="json").status_code == 200


def test_empty_key_setting_accepts_no_key(settings: Any, trained_model: Path) -> None:
    settings.ENERGYLEAF_ML_API_KEY = ""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="")
    assert client.post(URL, {"electricity": _samples(KETTLE)}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "either"),
        ({"electricity": []}, "electricity"),
        ({"electricity": _samples(KETTLE), "peaks": []}, "empty"),
        ({"peaks": []}, "peaks"),
        ({"electricity": [{"timestamp": "soon", "power": 1.0}]}, "ISO-8601"),
        ({"electricity": [{"timestamp": "2024-05-01T07:00:00Z", "power": -5}]}, "power"),
        ({"electricity": [{"timestamp": "2024-05-01T07:00:00Z", "power": "NaN"}]}, "power"),
        ({"electricity": [{"timestamp": "2024-05-01T07:00:00Z"}]}, "power"),
        (
            {"electricity": [{"timestamp": "2024-05-01T07:00:00Z", "power": 1.0}] * 2},
            "increasing",
        ),
        ({"electricity": "lots"}, "electricity"),
        ({"id": "x" * 65, "electricity": _samples(KETTLE)}, "id"),
    ],
)
def test_bad_json_is_a_clear_400(keyed: APIClient, payload: dict[str, Any], fragment: str) -> None:
    response = keyed.post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "code", "extra"}
    assert fragment.lower() in response.content.decode().lower()
    assert not DeviceSuggestion.objects.exists()


def test_not_json_and_not_protobuf(keyed: APIClient) -> None:
    broken = keyed.generic("POST", URL, b"{not json", content_type="application/json")
    assert broken.status_code == 400
    other = keyed.generic("POST", URL, b"hello", content_type="text/plain")
    assert other.status_code == 415


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"\xff\xff\xff", "DeviceClassificationPeakRequest"),
        (b"", "no peaks"),
        (encode_ml_peak_request([MLPeakData(id="e", samples=())]), "peaks[0]"),
        (
            encode_ml_peak_request([MLPeakData(id="t", samples=(("not a time", 100.0),))]),
            "ISO-8601",
        ),
    ],
)
def test_bad_protobuf_is_a_clear_400(keyed: APIClient, body: bytes, fragment: str) -> None:
    response = keyed.generic("POST", URL, body, content_type=PROTOBUF)
    assert response.status_code == 400
    assert fragment in response.content.decode()


def test_without_model_503(settings: Any, no_model: Path) -> None:
    settings.ENERGYLEAF_ML_API_KEY = KEY
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=KEY)
    response = client.post(URL, {"electricity": _samples(KETTLE)}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "classifier_unavailable"
