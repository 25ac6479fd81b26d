"""Test data for people: users, households, staff with roles, experiment participations and
their status transitions."""

from __future__ import annotations

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from energyleaf.users.models import (
    ExperimentParticipation,
    ExperimentStatusTransition,
    Household,
    User,
)

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"household{n}@example.org")
    username = factory.Faker("user_name")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_active = True
    password = factory.django.Password(TEST_PASSWORD)
    household = factory.RelatedFactory(
        "energyleaf.users.tests.factories.HouseholdFactory", factory_related_name="user"
    )


class HouseholdFactory(DjangoModelFactory[Household]):
    class Meta:
        model = Household

    user = factory.SubFactory(UserFactory, household=None)
    time_zone = "Europe/Berlin"


class StaffFactory(DjangoModelFactory[User]):
    """A staff account (may log into the admin) without a household, holding the given roles:
    `StaffFactory(roles=["researcher"])`. Without roles it may do nothing."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@example.org")
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_active = True
    password = factory.django.Password(TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            from django.contrib.auth.models import Group

            self.groups.add(*(Group.objects.get(name=name) for name in extracted))


class ExperimentParticipationFactory(DjangoModelFactory[ExperimentParticipation]):
    """A study participant's participation (status `registered` unless given)."""

    class Meta:
        model = ExperimentParticipation

    user = factory.SubFactory(UserFactory, is_participant=True)
    status = ExperimentParticipation.Status.REGISTERED


class ExperimentStatusTransitionFactory(DjangoModelFactory[ExperimentStatusTransition]):
    class Meta:
        model = ExperimentStatusTransition

    participation = factory.SubFactory(
        ExperimentParticipationFactory, status=ExperimentParticipation.Status.SECOND_SURVEY
    )
    from_status = ExperimentParticipation.Status.INSTALLATION
    to_status = factory.SelfAttribute("participation.status")
    changed_at = factory.LazyFunction(timezone.now)
    source = ExperimentStatusTransition.Source.SURVEY_ROUTINE
