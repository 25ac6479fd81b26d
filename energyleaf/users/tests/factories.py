from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from energyleaf.users.models import Household, User

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
