"""Talk to a production server the way its clients do (the production install stage of .ci/run).

    python .ci/smoke_production.py http://127.0.0.1:PORT AA:BB:CC:DD:EE:FF

Waits for /health, then: a sensor's real token request (protobuf bytes written out by hand, as
the Tasmota driver sends them) must get a 30-character token in one chunk; /health must be "ok"
on database and broker; the admin login page, Swagger UI and every static file they name must
load from this server (behind the TLS terminator, as X-Forwarded-Proto says). Standard library
only, apart from the project's generated protobuf module to read the answer.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sensors.protobuf import energyleaf_pb2

HTTPS = {"X-Forwarded-Proto": "https"}


def request(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    return conn.getresponse()


def wait_for_health(base: str, seconds: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = request(base, "GET", "/health")
            return {"status": answer.status, **json.loads(answer.read())}
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def token_request_bytes(mac: str) -> bytes:
    """TokenRequest{client_id = mac, type = DIGITAL_ELECTRICITY} in protobuf wire form."""
    client_id = mac.encode()
    return b"\x0a" + bytes([len(client_id)]) + client_id + b"\x10\x01"


def main() -> int:
    base, mac = sys.argv[1], sys.argv[2]
    health = wait_for_health(base)
    print(f"[smoke] /health: {health['status']} {json.dumps(health.get('checks'))}")
    checks = health["checks"]
    assert isinstance(checks, dict)
    assert checks["database"]["ok"] and checks["broker"]["ok"], health

    answer = request(
        base, "POST", "/api/v1/token", token_request_bytes(mac),
        {"Content-Type": "application/x-protobuf"},
    )  # fmt: skip
    body = answer.read()
    assert answer.status == 200, (answer.status, body)
    assert answer.getheader("Transfer-Encoding") == "chunked", answer.getheaders()
    token = energyleaf_pb2.TokenResponse.FromString(body)
    assert token.status == 200 and len(token.access_token) == 30, token
    assert token.expires_in == 3600, token
    print(f"[smoke] /api/v1/token: 200, a {len(token.access_token)}-character token")

    for page in ("/admin/login/", "/api/docs/", "/"):
        answer = request(base, "GET", page, headers=HTTPS)
        html = answer.read().decode()
        assert answer.status == 200, (page, answer.status)
        assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)))
        assert page == "/" or assets, f"{page} names no static file"
        for asset in assets:
            loaded = request(base, "GET", asset, headers=HTTPS)
            loaded.read()
            assert loaded.status == 200, (asset, loaded.status)
        print(f"[smoke] {page}: 200, {len(assets)} static files served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
