"""Password change, password reset and deactivation end every JWT (access and refresh) and every
admin session at once; verify refuses what authentication would refuse."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from energyleaf.tests.helpers import jwt_client, jwt_obtain
from energyleaf.users.models import User
from energyleaf.users.services import users_activate, users_deactivate
from energyleaf.users.tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def _me(access: str) -> int:
    return jwt_client(access).get(reverse("users:me-retrieve")).status_code


def _refresh(refresh: str) -> int:
    return (
        APIClient()
        .post(reverse("users:jwt-refresh"), {"refresh": refresh}, format="json")
        .status_code
    )


def _verify(token: str) -> int:
    return (
        APIClient().post(reverse("users:jwt-verify"), {"token": token}, format="json").status_code
    )


def _all_refused(tokens: dict[str, str]) -> None:
    assert _me(tokens["access"]) == 401
    assert _refresh(tokens["refresh"]) == 401
    assert _verify(tokens["access"]) == 401
    assert _verify(tokens["refresh"]) == 401


def _all_accepted(tokens: dict[str, str]) -> None:
    assert _me(tokens["access"]) == 200
    assert _refresh(tokens["refresh"]) == 200
    assert _verify(tokens["access"]) == 200


def test_a_password_change_ends_every_token_of_the_user_at_once(household_user) -> None:
    first, second = jwt_obtain(household_user.email), jwt_obtain(household_user.email)
    other = UserFactory()
    others = jwt_obtain(other.email)
    _all_accepted(first)

    household_user.set_password("a new password 123")
    household_user.save()

    _all_refused(first)
    _all_refused(second)
    _all_accepted(others)
    _all_accepted(jwt_obtain(household_user.email, "a new password 123"))


def test_a_password_reset_form_ends_every_token(household_user) -> None:
    tokens = jwt_obtain(household_user.email)
    form = SetPasswordForm(
        household_user,
        {"new_password1": "reset pass word 42!", "new_password2": "reset pass word 42!"},
    )
    assert form.is_valid(), form.errors
    form.save()
    _all_refused(tokens)


def test_an_admin_setting_the_password_ends_the_users_tokens(household_user, admin_user) -> None:
    tokens = jwt_obtain(household_user.email)
    site = Client()
    site.force_login(admin_user)
    response = site.post(
        reverse("admin:auth_user_password_change", args=[household_user.pk]),
        {"password1": "admin set pass 991!", "password2": "admin set pass 991!"},
    )
    assert response.status_code == 302, response.content[:1000]
    _all_refused(tokens)


def test_deactivation_ends_every_token_and_reactivation_does_not_revive_them(
    household_user,
) -> None:
    tokens = jwt_obtain(household_user.email)
    users_deactivate(users=[household_user])
    _all_refused(tokens)
    users_activate(users=User.objects.filter(pk=household_user.pk))
    _all_refused(tokens)
    _all_accepted(jwt_obtain(household_user.email))


def test_deactivation_in_the_admin_change_form_ends_the_tokens(household_user, admin_user):
    tokens = jwt_obtain(household_user.email)
    household_user.refresh_from_db()
    household_user.is_active = False
    household_user.save()  # what the admin change form does
    _all_refused(tokens)


def test_a_deleted_users_refresh_token_is_401_not_500(household_user) -> None:
    tokens = jwt_obtain(household_user.email)
    household_user.delete()
    assert _refresh(tokens["refresh"]) == 401
    assert _verify(tokens["access"]) == 401


def test_verify_refuses_an_inactive_users_token_even_before_any_change() -> None:
    user = UserFactory()
    token = str(RefreshToken.for_user(user).access_token)  # issued while active
    User.objects.filter(pk=user.pk).update(is_active=False)  # bypassing save(): no new generation
    assert _verify(token) == 401
    assert _me(token) == 401


def test_tokens_from_before_the_generation_claim_stay_valid_until_the_first_change() -> None:
    user = UserFactory()
    assert user.auth_generation == 0
    legacy = RefreshToken.for_user(user)  # simplejwt's own token: no `gen` claim
    assert "gen" not in legacy.payload
    assert _me(str(legacy.access_token)) == 200
    assert _refresh(str(legacy)) == 200
    user.set_password("changed password 7")
    user.save()
    assert _me(str(legacy.access_token)) == 401


@override_settings(
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ]
)
def test_a_rehash_of_the_same_password_at_login_ends_nothing() -> None:
    from django.contrib.auth.hashers import PBKDF2SHA1PasswordHasher

    old_hash = PBKDF2SHA1PasswordHasher().encode(TEST_PASSWORD, "saltsaltsalt", iterations=1000)
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(password=old_hash)
    tokens = jwt_obtain(user.email)  # first login: upgraded to the preferred hasher
    user.refresh_from_db()
    assert user.password.startswith("md5$")
    assert user.auth_generation == 0
    _all_accepted(tokens)
    _all_accepted(jwt_obtain(user.email))


# --- Admin sessions -------------------------------------------------------------------------------


def _admin_index(client: Client) -> int:
    return client.get(reverse("admin:index")).status_code


def test_deactivating_a_staff_user_logs_out_their_admin_sessions_for_good(admin_user) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    session = Client()
    session.force_login(staff)
    assert _admin_index(session) == 200
    users_deactivate(users=[staff])
    assert _admin_index(session) == 302
    users_activate(users=User.objects.filter(pk=staff.pk))
    assert _admin_index(session) == 302  # the old session stays ended after reactivation


def test_a_password_set_by_another_admin_ends_the_staff_users_sessions(admin_user) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    theirs = Client()
    theirs.force_login(staff)
    assert _admin_index(theirs) == 200
    mine = Client()
    mine.force_login(admin_user)
    response = mine.post(
        reverse("admin:auth_user_password_change", args=[staff.pk]),
        {"password1": "admin set pass 991!", "password2": "admin set pass 991!"},
    )
    assert response.status_code == 302
    assert _admin_index(theirs) == 302
    assert _admin_index(mine) == 200


def test_changing_ones_own_password_keeps_ones_own_session(admin_user) -> None:
    mine = Client()
    mine.force_login(admin_user)
    other_session = Client()
    other_session.force_login(admin_user)
    response = mine.post(
        reverse("admin:password_change"),
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "my own new pass 5!",
            "new_password2": "my own new pass 5!",
        },
    )
    assert response.status_code == 302
    assert _admin_index(mine) == 200
    assert _admin_index(other_session) == 302
