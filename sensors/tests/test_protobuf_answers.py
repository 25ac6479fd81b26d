"""The answer decoders of `sensors.protobuf.mapping` (used by clients such as the simulated
sensors): what the encoders write reads back unchanged, absent optional fields are None, and a
body that is not the answer raises InvalidPayload."""

from __future__ import annotations

import pytest

from sensors.protobuf import mapping


def test_token_response_round_trip_and_absent_fields() -> None:
    body = mapping.encode_token_response(
        200, access_token="T" * 30, expires_in=3600, script=">D\n#\n"
    )
    assert mapping.decode_token_response(body) == mapping.TokenResponseData(
        status=200,
        status_message=None,
        access_token="T" * 30,
        expires_in=3600,
        script=">D\n#\n",
        analog_rotation_per_kwh=None,
    )
    refused = mapping.decode_token_response(mapping.encode_token_response(404, "Sensor not found"))
    assert (refused.status, refused.status_message, refused.access_token) == (
        404,
        "Sensor not found",
        None,
    )
    analog = mapping.decode_token_response(
        mapping.encode_token_response(200, access_token="A" * 30, analog_rotation_per_kwh=75)
    )
    assert (analog.analog_rotation_per_kwh, analog.script) == (75, None)


def test_status_response_reads_both_answer_kinds_and_an_empty_body() -> None:
    data = mapping.encode_sensor_data_response(200, "Duplicate")
    assert mapping.decode_status_response(data) == mapping.StatusResponseData(200, "Duplicate")
    accepted = mapping.encode_script_accepted_response(401, "Token not found")
    assert mapping.decode_status_response(accepted) == mapping.StatusResponseData(
        401, "Token not found"
    )
    assert mapping.decode_status_response(b"") == mapping.StatusResponseData(0, None)


def test_batch_response_round_trip() -> None:
    results = (
        mapping.BatchItemResultData(0, 200),
        mapping.BatchItemResultData(1, 200, "Duplicate"),
        mapping.BatchItemResultData(2, 400, "Value too high"),
    )
    body = mapping.encode_batch_response(200, accepted=1, duplicates=1, rejected=1, results=results)
    assert mapping.decode_batch_response(body) == mapping.BatchResponseData(
        status=200,
        status_message=None,
        accepted=1,
        duplicates=1,
        rejected=1,
        results=results,
    )


@pytest.mark.parametrize(
    ("decode", "wrong_type"),
    [
        (mapping.decode_token_response, b"\x1a\x01x"),  # status (field 3) as a string
        (mapping.decode_status_response, b"\x0a\x01x"),  # status (field 1) as a string
        (mapping.decode_batch_response, b"\x32\x03\x08\x00\x00"),  # a result with field number 0
    ],
)
def test_answers_that_are_not_the_message_are_invalid(decode, wrong_type) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mapping.InvalidPayload):
        decode(b"\xff\xff\xff")  # truncated varint tag
    with pytest.raises(mapping.InvalidPayload):
        decode(wrong_type)
