"""Tests of `simulation.transport`: the devices' kept-alive HTTP connection."""

from __future__ import annotations

import time

from sensors.protobuf import mapping
from simulation.clocks import ManualClock
from simulation.protocol import TOKEN_PATH
from simulation.transport import HttpTransport

START = 1_720_000_000.0  # 2024-07-03T09:46:40Z


def test_transport_reconnects_when_the_server_closed_the_idle_connection(server):
    server.state.close_after_response = True
    clock = ManualClock(START)
    transport = HttpTransport(server.url, clock=clock)
    body = mapping.encode_token_request(mapping.TokenRequestData("5C:CF:7F:00:00:01", 1, False))
    try:
        for _ in range(3):
            answer = transport.post(TOKEN_PATH, body)
            assert answer.status == 200
            assert answer.chunked
            assert not answer.extra_chunks
            assert answer.content_type == "application/x-protobuf"
            time.sleep(0.1)  # let the server close its end
    finally:
        transport.close()
    assert transport.connects == 3
