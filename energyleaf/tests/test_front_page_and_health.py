"""The front page, `/health` and the offline Swagger UI."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from analytics.selectors.runs import FANOUT_AUDIT_TITLE
from energyleaf.audit.models import AuditEvent, Heartbeat
from energyleaf.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_front_page_links_the_doors_and_names_the_demo_logins_only_in_the_demo(settings):
    settings.ENERGYLEAF_DEMO = False
    page = Client().get("/")
    assert page.status_code == 200
    html = page.content.decode()
    for link in ('href="/admin/"', 'href="/api/docs/"', 'href="/health"', "/api/v1/auth/token"):
        assert link in html
    assert "demo-credentials.json" not in html
    settings.ENERGYLEAF_DEMO = True
    assert "demo-credentials.json" in Client().get("/").content.decode()


def test_front_page_refuses_writes():
    assert Client().post("/").status_code == 405


def _alive(now_offset: timedelta = timedelta(0)) -> None:
    when = timezone.now() - now_offset
    Heartbeat.objects.create(name="celery", last_at=when, beats=1)
    event = AuditEvent.objects.create(title=FANOUT_AUDIT_TITLE, app_function="test")
    AuditEvent.objects.filter(pk=event.pk).update(timestamp=when)


def test_health_is_ok_when_everything_ran_recently():
    _alive()
    answer = Client().get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "beat", "detection"}
    assert all(check["ok"] for check in body["checks"].values())
    assert answer["Cache-Control"].startswith("max-age=0")


def test_health_is_degraded_but_200_when_beat_and_detection_never_ran():
    answer = Client().get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["beat"] == {"ok": False, "last": None, "age_seconds": None}
    assert body["checks"]["detection"]["ok"] is False


def test_health_calls_a_stale_heartbeat_stale(settings):
    _alive(now_offset=timedelta(seconds=settings.ENERGYLEAF_HEALTH_BEAT_STALE_SECONDS + 60))
    body = Client().get("/health").json()
    assert body["status"] == "degraded"
    assert body["checks"]["beat"]["ok"] is False
    assert body["checks"]["beat"]["age_seconds"] >= settings.ENERGYLEAF_HEALTH_BEAT_STALE_SECONDS
    assert body["checks"]["detection"]["ok"] is True  # 30-min job, hour-long allowance


def test_health_is_503_when_the_broker_cannot_be_reached(monkeypatch):
    _alive()
    # Nothing listens on port 1: a real connection attempt to a dead Redis.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    answer = Client().get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert "127.0.0.1" not in answer.content.decode()


def test_health_refuses_writes():
    assert Client().post("/health").status_code == 405


def test_swagger_ui_loads_nothing_from_another_host():
    html = Client().get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    for source in sources:
        assert not source.startswith(("http:", "https:", "//")), source
    static = [s.split("/static/", 1)[1] for s in sources if "/static/" in s]
    assert any(name.endswith("swagger-ui-bundle.js") for name in static), static
    for name in static:
        assert finders.find(name), f"{name} is not among the project's static files"
