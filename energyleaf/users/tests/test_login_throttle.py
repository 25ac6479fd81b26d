"""Login is rate-limited per address and per account, before any password is checked, on the
JWT endpoint (JSON 429 with Retry-After) and the admin login page (429 with a message); failed
and throttled logins are audited without the password."""

from __future__ import annotations

import pytest
import redis
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from energyleaf.audit.models import AuditEvent
from energyleaf.users.tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

WRONG = "definitely-the-wrong-password"


def _jwt_login(email: str, password: str, address: str = "192.0.2.1"):  # type: ignore[no-untyped-def]
    return APIClient().post(
        reverse("users:jwt-obtain"),
        {"email": email, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def _per_address_limit(household_user) -> None:  # type: ignore[no-untyped-def]
    statuses = [_jwt_login(household_user.email, WRONG).status_code for _ in range(5)]
    assert statuses == [401] * 5
    limited = _jwt_login(household_user.email, TEST_PASSWORD)
    assert limited.status_code == 429
    body = limited.json()
    assert set(body) == {"message", "code", "extra"}
    assert body["code"] == "throttled"
    assert body["message"].startswith("Too many login attempts.")
    assert int(limited["Retry-After"]) >= 1
    # Another address is not affected.
    assert _jwt_login(household_user.email, TEST_PASSWORD, "192.0.2.2").status_code == 200


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="5/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="100/min"
)
def test_jwt_login_is_limited_per_address(household_user) -> None:
    _per_address_limit(household_user)


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="5/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="100/min"
)
def test_jwt_login_is_limited_per_address_in_the_shared_redis_cache(
    household_user, redis_url
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    with override_settings(CACHES=caches):
        _per_address_limit(household_user)
        assert any(key.startswith(b":1:throttle:") for key in client.scan_iter())
    client.flushdb()


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="100/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="3/min"
)
def test_jwt_login_is_limited_per_account_across_addresses(household_user) -> None:
    other = UserFactory()
    statuses = [
        _jwt_login(household_user.email.upper(), WRONG, f"198.51.100.{i}").status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert _jwt_login(household_user.email, TEST_PASSWORD, "203.0.113.9").status_code == 429
    assert _jwt_login(other.email, TEST_PASSWORD, "198.51.100.1").status_code == 200


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="100/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="3/min"
)
def test_an_attack_on_an_account_does_not_lock_it_out_where_it_logged_in_before(
    household_user,
) -> None:
    home = "203.0.113.7"
    assert _jwt_login(household_user.email, TEST_PASSWORD, home).status_code == 200

    attack = [
        _jwt_login(household_user.email, WRONG, f"198.51.100.{i}").status_code for i in range(6)
    ]

    assert attack == [401, 401, 429, 429, 429, 429]  # the home login counted too
    assert _jwt_login(household_user.email, TEST_PASSWORD, home).status_code == 200
    assert _jwt_login(household_user.email, WRONG, home).status_code == 401
    # A new address is under the account's limit, as before.
    assert _jwt_login(household_user.email, TEST_PASSWORD, "203.0.113.8").status_code == 429


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="100/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="2/min"
)
def test_a_staff_member_keeps_the_admin_login_where_it_logged_in_before() -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    form = {"username": staff.email, "password": TEST_PASSWORD, "next": "/admin/"}
    home = Client(REMOTE_ADDR="203.0.113.7")
    assert home.post(url, form).status_code == 302
    for i in range(4):
        Client(REMOTE_ADDR=f"198.51.100.{i}").post(url, {**form, "password": WRONG})

    assert Client(REMOTE_ADDR="203.0.113.8").post(url, form).status_code == 429
    assert Client(REMOTE_ADDR="203.0.113.7").post(url, form).status_code == 302


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="3/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="100/min"
)
def test_refused_attempts_check_no_password_and_are_audited_once(household_user) -> None:
    for _ in range(10):
        _jwt_login(household_user.email, WRONG)
    failed = AuditEvent.objects.filter(title="auth/login-failed")
    # Only the three admitted attempts reached the password check.
    assert failed.count() == 3
    event = failed.first()
    assert event is not None
    assert event.user_id == household_user.pk
    assert event.details["account"] == household_user.email
    assert event.details["address"] == "192.0.2.1"
    assert AuditEvent.objects.filter(title="auth/login-throttled").count() == 1
    for row in AuditEvent.objects.all():
        assert WRONG not in str(row.details)


def test_a_failed_login_for_an_unknown_account_is_audited_without_user(db) -> None:
    assert _jwt_login("nobody@example.org", WRONG).status_code == 401
    event = AuditEvent.objects.get(title="auth/login-failed")
    assert event.user_id is None
    assert event.details["account"] == "nobody@example.org"
    assert WRONG not in str(event.details)


# --- Admin login ----------------------------------------------------------------------------------


def _admin_login(client: Client, email: str, password: str, address: str = "192.0.2.1"):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("admin:login"),
        {"username": email, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="3/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="100/min"
)
def test_admin_login_is_limited_with_a_readable_429_page(admin_user) -> None:
    client = Client()
    statuses = [_admin_login(client, admin_user.email, WRONG).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # the form again, with "enter a correct e-mail address"
    limited = _admin_login(client, admin_user.email, TEST_PASSWORD)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert b"Too many login attempts. Please wait" in limited.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(title="auth/login-failed", app_component="admin").count() == 3
    # From another address the right password gets in.
    other = Client()
    assert _admin_login(other, admin_user.email, TEST_PASSWORD, "192.0.2.7").status_code == 302


@override_settings(
    ENERGYLEAF_LOGIN_RATE_PER_ADDRESS="100/min", ENERGYLEAF_LOGIN_RATE_PER_ACCOUNT="2/min"
)
def test_admin_and_jwt_logins_share_the_per_account_count(admin_user) -> None:
    assert _admin_login(Client(), admin_user.email, WRONG, "192.0.2.3").status_code == 200
    assert _jwt_login(admin_user.email, WRONG, "192.0.2.4").status_code == 401
    assert _admin_login(Client(), admin_user.email, TEST_PASSWORD, "192.0.2.5").status_code == 429
    assert _jwt_login(admin_user.email, TEST_PASSWORD, "192.0.2.6").status_code == 429
