"""The front page and `/health`: the composition root's own views (they read several apps)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from analytics.selectors.runs import detection_last_run
from energyleaf.audit.selectors import heartbeat_last

BROKER_TIMEOUT_SECONDS = 2


@require_safe
def front_page(request: HttpRequest) -> HttpResponse:
    """What this server is, and where its doors are."""
    context = {
        "admin_url": "/" + settings.ADMIN_URL.lstrip("/"),
        "demo": settings.ENERGYLEAF_DEMO,
        "credentials_file": str(settings.VAR_DIR / "demo-credentials.json"),
    }
    return render(request, "energyleaf/front_page.html", context)


def _database_check() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _broker_check() -> dict[str, Any]:
    from energyleaf.celery import app

    started = time.perf_counter()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # any broker failure is reported, never raised
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _age_check(last: datetime | None, stale_after: int, now: datetime) -> dict[str, Any]:
    if last is None:
        return {"ok": False, "last": None, "age_seconds": None}
    age = (now - last).total_seconds()
    return {"ok": age <= stale_after, "last": last.isoformat(), "age_seconds": round(age)}


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Database, broker, the last beat heartbeat and the last detection run, as JSON.

    503 when the database or the broker cannot be reached (this process cannot do its work);
    200 with status "degraded" when beat or detection are stale (the web process itself is fine,
    so a load balancer keeps it); 200 "ok" otherwise. Names no host, address or secret."""
    now = timezone.now()
    checks: dict[str, dict[str, Any]] = {
        "database": _database_check(),
        "broker": _broker_check(),
    }
    if checks["database"]["ok"]:
        try:
            checks["beat"] = _age_check(
                heartbeat_last(), settings.ENERGYLEAF_HEALTH_BEAT_STALE_SECONDS, now
            )
            checks["detection"] = _age_check(
                detection_last_run(), settings.ENERGYLEAF_HEALTH_DETECTION_STALE_SECONDS, now
            )
        except DatabaseError as exc:
            checks["database"] = {"ok": False, "error": type(exc).__name__}
    if not (checks["database"]["ok"] and checks["broker"]["ok"]):
        status, code = "unavailable", 503
    elif all(check["ok"] for check in checks.values()):
        status, code = "ok", 200
    else:
        status, code = "degraded", 200
    return JsonResponse({"status": status, "time": now.isoformat(), "checks": checks}, status=code)
