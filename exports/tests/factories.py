"""Test data for exports: participants marked as exported, research dataset export jobs."""

from __future__ import annotations

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from energyleaf.users.models import ExperimentParticipation
from energyleaf.users.tests.factories import ExperimentParticipationFactory, StaffFactory
from exports.models import ExperimentExportMark, ExportJob


class ExperimentExportMarkFactory(DjangoModelFactory[ExperimentExportMark]):
    class Meta:
        model = ExperimentExportMark

    participation = factory.SubFactory(
        ExperimentParticipationFactory, status=ExperimentParticipation.Status.EXPORTED
    )
    exported_by = factory.SubFactory(StaffFactory, roles=["researcher"])
    exported_at = factory.LazyFunction(timezone.now)


class ExportJobFactory(DjangoModelFactory[ExportJob]):
    """A pending dataset export of every household over an open range (readings and sequences);
    pass `households=[...]` for a selection."""

    class Meta:
        model = ExportJob
        skip_postgeneration_save = True

    requested_by = factory.SubFactory(StaffFactory, roles=["researcher"])
    all_households = True
    status = ExportJob.Status.PENDING

    @factory.post_generation
    def households(self, create: bool, extracted: list[object] | None, **kwargs: object) -> None:
        if create and extracted:
            self.all_households = False
            self.save(update_fields=["all_households"])
            self.households.set(extracted)
