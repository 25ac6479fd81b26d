"""Test data of the import's own tables."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from energyleaf.legacy.models import LegacyIdMap, LegacyReadingProgress
from sensors.tests.factories import SensorFactory


class LegacyIdMapFactory(DjangoModelFactory[LegacyIdMap]):
    class Meta:
        model = LegacyIdMap

    kind = LegacyIdMap.Kind.USER
    old_id = factory.Sequence(lambda n: f"old{n:027d}")
    new_id = factory.Sequence(lambda n: n + 1)


class LegacyReadingProgressFactory(DjangoModelFactory[LegacyReadingProgress]):
    class Meta:
        model = LegacyReadingProgress

    sensor = factory.SubFactory(SensorFactory)
    copied_until = None
    readings_copied = 0
