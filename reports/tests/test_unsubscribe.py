from __future__ import annotations

import time
from unittest import mock

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from energyleaf.users.models import Household
from energyleaf.users.tests.factories import UserFactory
from reports.api.pages import mask_email
from reports.services.unsubscribe import (
    UNSUBSCRIBE_TOKEN_MAX_AGE,
    UNSUBSCRIBE_TOKEN_SALT,
    unsubscribe_apply,
    unsubscribe_token_make,
)

pytestmark = pytest.mark.django_db

URL = "/unsubscribe"


def receives_anomaly_mails(user) -> bool:  # type: ignore[no-untyped-def]
    return Household.objects.get(user=user).receive_anomaly_mails


def old_token(user_id: int, *, age_seconds: float) -> str:
    signed_at = signing.b62_encode(int(time.time() - age_seconds))
    with mock.patch.object(signing.TimestampSigner, "timestamp", return_value=signed_at):
        return unsubscribe_token_make(user_id=user_id)


def test_url_name():
    assert reverse("reports:unsubscribe") == URL


def test_apply_turns_off_anomaly_mails_for_the_named_user_only():
    user, other = UserFactory(), UserFactory()

    assert unsubscribe_apply(token=unsubscribe_token_make(user_id=user.pk)) == user

    assert receives_anomaly_mails(user) is False
    assert receives_anomaly_mails(other) is True


def test_second_use_is_harmless():
    user = UserFactory()
    token = unsubscribe_token_make(user_id=user.pk, scope="all")
    unsubscribe_apply(token=token)
    history_rows = Household.history.filter(user_id=user.pk).count()

    assert unsubscribe_apply(token=token) == user

    assert receives_anomaly_mails(user) is False
    assert Household.history.filter(user_id=user.pk).count() == history_rows


def test_reports_scope_leaves_anomaly_mails_on():
    user = UserFactory()

    unsubscribe_apply(token=unsubscribe_token_make(user_id=user.pk, scope="reports"))

    assert receives_anomaly_mails(user) is True


def test_unknown_scope_cannot_be_made():
    with pytest.raises(ValueError, match="unknown unsubscribe scope"):
        unsubscribe_token_make(user_id=1, scope="everything")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "case",
    ["tampered_signature", "other_user_id_in_payload", "wrong_salt", "garbage", "empty"],
)
def test_bad_tokens_are_rejected_and_change_nothing(case):
    user, victim = UserFactory(), UserFactory()
    good = unsubscribe_token_make(user_id=user.pk)
    token = {
        "tampered_signature": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "other_user_id_in_payload": signing.dumps({"u": victim.pk, "s": "anomaly"}, salt="x").split(
            ":", 1
        )[0]
        + ":"
        + good.split(":", 1)[1],
        "wrong_salt": signing.dumps({"u": victim.pk, "s": "anomaly"}),
        "garbage": "not-a-token",
        "empty": "",
    }[case]

    with pytest.raises(ValidationError):
        unsubscribe_apply(token=token)

    assert receives_anomaly_mails(user) is True
    assert receives_anomaly_mails(victim) is True


def test_token_for_a_deleted_user_is_rejected():
    user = UserFactory()
    token = unsubscribe_token_make(user_id=user.pk)
    user.delete()

    with pytest.raises(ValidationError):
        unsubscribe_apply(token=token)


def test_expired_token_is_rejected():
    user = UserFactory()
    max_age = UNSUBSCRIBE_TOKEN_MAX_AGE.total_seconds()

    with pytest.raises(ValidationError, match="expired"):
        unsubscribe_apply(token=old_token(user.pk, age_seconds=max_age + 60))

    assert receives_anomaly_mails(user) is True
    assert unsubscribe_apply(token=old_token(user.pk, age_seconds=max_age - 60)) == user


def test_salt_is_dedicated():
    assert UNSUBSCRIBE_TOKEN_SALT == "energyleaf.reports.unsubscribe"


def test_get_shows_a_confirmation_with_a_masked_address_and_changes_nothing(client):
    user = UserFactory(email="anna.meier@example.org")
    token = unsubscribe_token_make(user_id=user.pk)

    response = client.get(URL, {"token": token})

    assert response.status_code == 200
    content = response.content.decode()
    assert "a***@e***.org" in content
    assert "anna.meier@example.org" not in content
    assert "Benachrichtigungen über ungewöhnlichen Verbrauch" in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert f'value="{token}"' in content
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"]
    assert receives_anomaly_mails(user) is True


def test_get_in_english_for_an_english_household(client):
    user = UserFactory()
    Household.objects.filter(user=user).update(language="en")

    response = client.get(URL, {"token": unsubscribe_token_make(user_id=user.pk)})

    assert "Turn off <strong>unusual consumption alerts</strong>" in response.content.decode()


def test_post_applies_the_token_and_ignores_a_client_supplied_user(client):
    user, victim = UserFactory(), UserFactory()

    response = client.post(
        URL,
        {"token": unsubscribe_token_make(user_id=user.pk), "user_id": victim.pk, "u": victim.pk},
    )

    assert response.status_code == 200
    assert "Erledigt" in response.content.decode()
    assert receives_anomaly_mails(user) is False
    assert receives_anomaly_mails(victim) is True


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("case", ["missing", "tampered", "expired"])
def test_invalid_or_expired_token_gives_a_400_page(client, method, case):
    user = UserFactory()
    token = {
        "missing": None,
        "tampered": unsubscribe_token_make(user_id=user.pk) + "x",
        "expired": old_token(user.pk, age_seconds=UNSUBSCRIBE_TOKEN_MAX_AGE.total_seconds() + 1),
    }[case]
    data = {} if token is None else {"token": token}

    response = getattr(client, method)(URL, data)

    assert response.status_code == 400
    assert "ungültig oder abgelaufen" in response.content.decode()
    assert receives_anomaly_mails(user) is True


def test_post_without_csrf_token_is_refused():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)

    response = client.post(URL, {"token": unsubscribe_token_make(user_id=user.pk)})

    assert response.status_code == 403
    assert receives_anomaly_mails(user) is True


def test_confirmation_form_posts_with_its_csrf_token():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    token = unsubscribe_token_make(user_id=user.pk)
    client.get(URL, {"token": token})
    csrf = client.cookies["csrftoken"].value

    response = client.post(URL, {"token": token, "csrfmiddlewaretoken": csrf})

    assert response.status_code == 200
    assert receives_anomaly_mails(user) is False


@pytest.mark.parametrize(
    ("email", "masked"),
    [("anna.meier@example.org", "a***@e***.org"), ("x@localhost", "x***@l***")],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


def receives_report_mails(user) -> bool:  # type: ignore[no-untyped-def]
    from reports.models import ReportSettings

    found = ReportSettings.objects.filter(user=user).values_list("receive_mails", flat=True).first()
    return True if found is None else found


@pytest.mark.parametrize(
    ("scope", "anomaly_after", "reports_after"),
    [("anomaly", False, True), ("reports", True, False), ("all", False, False)],
)
def test_each_scope_turns_off_its_mails_for_the_named_user_only(
    scope, anomaly_after, reports_after
):
    user, other = UserFactory(), UserFactory()

    unsubscribe_apply(token=unsubscribe_token_make(user_id=user.pk, scope=scope))

    assert (receives_anomaly_mails(user), receives_report_mails(user)) == (
        anomaly_after,
        reports_after,
    )
    assert (receives_anomaly_mails(other), receives_report_mails(other)) == (True, True)


def test_reports_scope_applied_twice_writes_once():
    from reports.models import ReportSettings

    user = UserFactory()
    token = unsubscribe_token_make(user_id=user.pk, scope="reports")
    unsubscribe_apply(token=token)
    changed_at = ReportSettings.objects.get(user=user).updated_at

    assert unsubscribe_apply(token=token) == user

    assert ReportSettings.objects.get(user=user).updated_at == changed_at
    assert receives_report_mails(user) is False


@pytest.mark.parametrize("case", ["tampered", "expired"])
def test_bad_reports_token_gives_the_error_page_and_keeps_report_mails_on(client, case):
    user = UserFactory()
    token = {
        "tampered": unsubscribe_token_make(user_id=user.pk, scope="reports")[:-3] + "xyz",
        "expired": old_token(user.pk, age_seconds=UNSUBSCRIBE_TOKEN_MAX_AGE.total_seconds() + 1),
    }[case]

    response = client.post(URL, {"token": token})

    assert response.status_code == 400
    assert "ungültig oder abgelaufen" in response.content.decode()
    assert receives_report_mails(user) is True


def test_reports_confirmation_names_report_mails(client):
    user = UserFactory()

    response = client.get(URL, {"token": unsubscribe_token_make(user_id=user.pk, scope="reports")})

    assert "Verbrauchsberichte per E-Mail" in response.content.decode()
