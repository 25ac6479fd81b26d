"""Keep-alive HTTP/1.1 load generator for simulated sensors (standard library only).

The fallback of bench/sensor_input.py when wrk is not installed. Run as a separate process:

    python -m bench.loadgen CONFIG.json     # prints one JSON result line on stdout

Each connection is one simulated sensor with one request in flight at a time (closed loop, like
wrk): request k of a connection carries timestamp base_ms + k * step_ms and value
value0 + k * value_step, with k = index, index + stride, ... After `seconds` no new request is
sent and the ones in flight are awaited, so every answer is counted (wrk instead abandons them).
Bodies are SensorDataRequestV2 written by hand (same bytes as the project's encoder; the
orchestrator checks that) so that the client stays cheap.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from collections import Counter
from typing import Any

_DOUBLE = struct.Struct("<d")


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def reading_body(
    token: bytes, k: int, *, base_ms: int, step_ms: int, value0: float, value_step: float
) -> bytes:
    """SensorDataRequestV2: token, DIGITAL_ELECTRICITY, value, value_current, timestamp (ms)."""
    return b"".join(
        (
            b"\x0a",
            bytes((len(token),)),
            token,
            b"\x10\x01\x19",
            _DOUBLE.pack(value0 + k * value_step),
            b"\x21",
            _DOUBLE.pack(float(480 + k % 40)),
            b"\x30",
            varint(base_ms + k * step_ms),
        )
    )


class ResponseParser:
    """Incremental parser of one HTTP/1.1 response (Content-Length or chunked)."""

    __slots__ = ("buffer", "close", "status")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.status = 0
        self.close = False

    def feed(self, data: bytes) -> int | None:
        """Bytes of the buffer the complete response used, or None while incomplete."""
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
        self.status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        self.close = headers.get("connection") == "close"
        pos = head_end + 4
        if headers.get("transfer-encoding") == "chunked":
            while True:
                line_end = self.buffer.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(self.buffer[pos:line_end]).split(b";")[0], 16)
                pos = line_end + 2
                if size == 0:
                    trailer_end = self.buffer.find(b"\r\n", pos)
                    return None if trailer_end < 0 else trailer_end + 2
                if len(self.buffer) < pos + size + 2:
                    return None
                pos += size + 2
        length = int(headers.get("content-length", "0"))
        return pos + length if len(self.buffer) >= pos + length else None


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run, token: str, index: int, stride: int) -> None:
        self.run = run
        self.token = token.encode()
        self.index = index
        self.stride = stride
        self.transport: asyncio.Transport | None = None
        self.response = ResponseParser()
        self.sent_at = 0.0
        self.finished: asyncio.Future[None] = run.loop.create_future()
        self.awaiting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self) -> None:
        run = self.run
        body = reading_body(self.token, self.index, **run.body_params)
        self.index += self.stride
        header = run.head + str(len(body)).encode() + b"\r\n\r\n"
        self.response = ResponseParser()
        self.awaiting = True
        self.sent_at = time.perf_counter()
        run.sent += 1
        assert self.transport is not None
        self.transport.write(header + body)

    def data_received(self, data: bytes) -> None:
        used = self.response.feed(data)
        if used is None:
            return
        run = self.run
        run.latencies.append(int((time.perf_counter() - self.sent_at) * 1_000_000))
        run.statuses[self.response.status] += 1
        self.awaiting = False
        if time.perf_counter() >= run.deadline or self.response.close:
            if self.transport is not None:
                self.transport.close()
            if not self.finished.done():
                self.finished.set_result(None)
            return
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.awaiting:
            self.run.errors += 1
        if not self.finished.done():
            self.finished.set_result(None)


class _Run:
    def __init__(self, config: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.config = config
        self.body_params = {
            "base_ms": int(config["base_ms"]),
            "step_ms": int(config["step_ms"]),
            "value0": float(config["value0"]),
            "value_step": float(config["value_step"]),
        }
        self.head = (
            f"POST {config['path']} HTTP/1.1\r\nHost: {config['host']}:{config['port']}\r\n"
            "Content-Type: application/x-protobuf\r\nContent-Length: "
        ).encode()
        self.sent = 0
        self.errors = 0
        self.latencies: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.deadline = 0.0


async def _main(config: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _Run(config, loop)
    connections = []
    for token, index, stride in config["connections"]:
        connection = _Connection(run, token, int(index), int(stride))
        await loop.create_connection(lambda c=connection: c, config["host"], int(config["port"]))
        connections.append(connection)
    delay = float(config.get("start_at", 0)) - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu_before = time.process_time()
    started = time.perf_counter()
    run.deadline = started + float(config["seconds"])
    for connection in connections:
        connection.send()
    await asyncio.wait_for(
        asyncio.gather(*(c.finished for c in connections)),
        timeout=float(config["seconds"]) + float(config.get("drain_timeout", 60)),
    )
    elapsed = time.perf_counter() - started
    return {
        "elapsed_s": elapsed,
        "sent": run.sent,
        "completed": len(run.latencies),
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "errors": run.errors,
        "latencies_us": run.latencies,
        "client_cpu_s": time.process_time() - cpu_before,
        "next_index": [c.index for c in connections],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.loadgen CONFIG.json", file=sys.stderr)
        return 2
    with open(argv[1]) as handle:
        config = json.load(handle)
    result = asyncio.run(_main(config))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
