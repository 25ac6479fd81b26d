"""Test data for the audit log and the liveness heartbeats."""

from __future__ import annotations

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from energyleaf.audit.models import AuditEvent, Heartbeat


class AuditEventFactory(DjangoModelFactory[AuditEvent]):
    class Meta:
        model = AuditEvent

    title = factory.Sequence(lambda n: f"test/event-{n}")
    log_type = AuditEvent.LogType.INFO
    app_function = "test"
    app_component = AuditEvent.Component.API
    details = factory.Dict({})


class HeartbeatFactory(DjangoModelFactory[Heartbeat]):
    class Meta:
        model = Heartbeat

    name = factory.Sequence(lambda n: f"source-{n}")
    last_at = factory.LazyFunction(timezone.now)
    beats = 1
