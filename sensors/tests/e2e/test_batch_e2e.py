"""The batch upload of buffered readings over real HTTP, against the real web server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Max, Min, Sum

from energyleaf.users.tests.factories import UserFactory
from sensors.models import Reading, RejectedReading, Sensor
from sensors.protobuf import energyleaf_batch_pb2 as batch_pb
from sensors.protobuf import energyleaf_pb2 as pb
from sensors.protobuf import mapping
from sensors.services import sensor_register

from .clients import PROTOBUF, HttpConnection

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COUNT = 10_000
START = datetime(2024, 7, 1, tzinfo=UTC)
STEP = timedelta(seconds=15)
HEADERS = (f"Content-Type: {PROTOBUF}",)


def fetch_token(conn: HttpConnection, client_id: str) -> str:
    body = mapping.encode_token_request(mapping.TokenRequestData(client_id, 1, False))
    answer = conn.request("POST", "/api/v1/token", body, HEADERS)
    assert answer.status == 200
    return pb.TokenResponse.FromString(answer.body).access_token


def assert_stored_series(sensor: Sensor) -> None:
    """COUNT readings every 15 s from START, 0.01 kWh apart, stored once each."""
    summary = Reading.objects.filter(sensor=sensor).aggregate(
        first=Min("timestamp"),
        last=Max("timestamp"),
        low=Min("value"),
        high=Max("value"),
        consumption=Sum("consumption"),
    )
    assert Reading.objects.filter(sensor=sensor).count() == COUNT
    # SQLite sums decimals as floats: compare at storage precision.
    summary["consumption"] = summary["consumption"].quantize(Decimal("0.000001"))
    assert summary == {
        "first": START,
        "last": START + STEP * (COUNT - 1),
        "low": Decimal("1000.000000"),
        "high": Decimal("1000") + Decimal("0.01") * (COUNT - 1),
        "consumption": Decimal("0.01") * (COUNT - 1),
    }
    assert set(
        Reading.objects.filter(sensor=sensor, timestamp__gt=START).values_list(
            "consumption", flat=True
        )
    ) == {Decimal("0.01")}


def test_protobuf_batch_of_10000_readings_is_stored_once(web_server):
    """A SensorDataBatchRequest of 10 000 readings with millisecond timestamps is answered 200
    (chunked protobuf, `X-Energyleaf-Batch-Max` advertised) with 10 000 accepted results and
    stores 10 000 rows with consumption deltas; sending the same batch twice more answers every
    reading as a `Duplicate` and still leaves exactly 10 000 rows."""
    mac = "02:00:00:00:10:00"
    sensor = sensor_register(client_id=mac, user=UserFactory())
    with HttpConnection(web_server.host, web_server.port) as conn:
        token = fetch_token(conn, mac)
        start_ms = int(START.timestamp() * 1000)
        body = mapping.encode_batch(
            mapping.BatchData(
                access_token=token,
                sensor_type=1,
                readings=tuple(
                    mapping.BatchReadingData(
                        value=round(1000 + 0.01 * i, 2),
                        value_current=400.0 + i % 50,
                        value_out=None,
                        timestamp_raw=start_ms + 15_000 * i,
                    )
                    for i in range(COUNT)
                ),
            )
        )

        answer = conn.request("POST", "/api/v1/sensor_input/batch", body, HEADERS)
        assert answer.status == 200
        assert answer.chunked
        assert answer.header("Content-Type") == PROTOBUF
        assert answer.header("X-Energyleaf-Batch-Max") == "20000"
        result = batch_pb.SensorDataBatchResponse.FromString(answer.body)
        assert (result.status, result.accepted, result.duplicates, result.rejected) == (
            200,
            COUNT,
            0,
            0,
        )
        assert [r.index for r in result.results] == list(range(COUNT))
        assert {(r.status, r.HasField("status_message")) for r in result.results} == {(200, False)}
        assert_stored_series(sensor)

        for _ in range(2):
            answer = conn.request("POST", "/api/v1/sensor_input/batch", body, HEADERS)
            assert answer.status == 200
            result = batch_pb.SensorDataBatchResponse.FromString(answer.body)
            assert (result.status, result.accepted, result.duplicates, result.rejected) == (
                200,
                0,
                COUNT,
                0,
            )
            assert {(r.status, r.status_message) for r in result.results} == {(200, "Duplicate")}
        assert conn.requests == 4

    assert_stored_series(sensor)
    assert RejectedReading.objects.count() == 0


def test_json_batch_of_10000_readings_is_stored_once(web_server):
    """The JSON form of the batch upload (`Content-Type: application/json`, timestamps as
    ISO 8601 texts with an offset) stores 10 000 readings at the right UTC instants; re-sent,
    every result is a `Duplicate` and nothing is stored twice."""
    mac = "02:00:00:00:10:01"
    sensor = sensor_register(client_id=mac, user=UserFactory())
    berlin_summer = timedelta(hours=2)
    with HttpConnection(web_server.host, web_server.port) as conn:
        token = fetch_token(conn, mac)
        payload = {
            "access_token": token,
            "readings": [
                {
                    "value": round(1000 + 0.01 * i, 2),
                    "timestamp": (START + STEP * i + berlin_summer).strftime(
                        "%Y-%m-%dT%H:%M:%S+02:00"
                    ),
                }
                for i in range(COUNT)
            ],
        }
        body = json.dumps(payload).encode()
        headers = ("Content-Type: application/json",)

        answer = conn.request("POST", "/api/v1/sensor_input/batch", body, headers)
        assert answer.status == 200
        assert answer.header("Content-Type") == "application/json"
        result = json.loads(answer.body)
        assert (result["status"], result["accepted"], result["duplicates"], result["rejected"]) == (
            200,
            COUNT,
            0,
            0,
        )
        assert {(r["status"], r["status_message"]) for r in result["results"]} == {(200, None)}
        assert_stored_series(sensor)

        answer = conn.request("POST", "/api/v1/sensor_input/batch", body, headers)
        result = json.loads(answer.body)
        assert (answer.status, result["accepted"], result["duplicates"]) == (200, 0, COUNT)
        assert {(r["status"], r["status_message"]) for r in result["results"]} == {
            (200, "Duplicate")
        }

    assert_stored_series(sensor)
    assert RejectedReading.objects.count() == 0
