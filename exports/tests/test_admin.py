"""The export record in the back office: read-only changelist and search."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from energyleaf.users.tests.factories import ExperimentParticipationFactory, UserFactory
from exports.models import ExperimentExportMark

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_changelist_and_search_render(admin_client_: Client) -> None:
    from django.urls import reverse

    user = UserFactory(is_participant=True)
    participation = ExperimentParticipationFactory(user=user, status="exported")
    ExperimentExportMark.objects.create(participation=participation, exported_at=timezone.now())
    url = reverse("admin:exports_experimentexportmark_changelist")

    assert admin_client_.get(url).status_code == 200
    assert admin_client_.get(url, {"q": user.email}).status_code == 200
    assert admin_client_.get(reverse("admin:exports_experimentexportmark_add")).status_code == 403
