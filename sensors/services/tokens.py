"""Sensor tokens: issue on `/api/v1/token`, authenticate on the other sensor endpoints.

Tokens are 30 characters of [A-Za-z0-9] (as the reference), valid for `expires_in` seconds, and
stored only as their SHA-256. Issuing a token leaves the sensor's other live tokens valid until
they expire (two clients on one MAC, or a client that caches its token, keep working), keeping at
most `ENERGYLEAF_SENSOR_MAX_LIVE_TOKENS` per sensor: beyond that, tokens never used are dropped
before used ones, so someone who knows only the MAC cannot push out the token the sensor is
using. A token stops working as soon as its sensor is reset or assigned to another household; a
deactivated household's sensor is refused (403 `Household deactivated`) and the refusal recorded.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record
from sensors.compute.mac import canonical_mac_or_none

from ..models import Sensor, SensorToken

TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_LENGTH = 30
_DIGITS_ONLY = re.compile(r"\d+")


class SensorProtocolError(Exception):
    """A refusal on a sensor endpoint: `status` is the HTTP status and the protobuf `status`,
    `message` the reference's status text."""

    status = 400
    message = "Invalid data"

    def __init__(self, message: str | None = None, status: int | None = None):
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status
        super().__init__(self.message)


class SensorNotFoundError(SensorProtocolError):
    status = 404
    message = "Sensor not found"


class TokenError(SensorProtocolError):
    """Every token problem is a 401, the only status on which clients fetch a new token."""

    status = 401
    message = "Token invalid"


class HouseholdInactiveError(SensorProtocolError):
    """The sensor's household is deactivated: refused with 403, not 401, because clients fetch a
    new token only on 401 and a 401 would make a refused sensor ask for tokens in a loop."""

    status = 403
    message = "Household deactivated"


class TokenNotFoundError(TokenError):
    message = "Token not found"


class TokenExpiredError(TokenError):
    message = "Token expired"


@dataclass(frozen=True, slots=True)
class TokenIssue:
    """What `/api/v1/token` answers: the token in clear (only here) and what the sensor needs."""

    sensor_id: int
    access_token: str
    expires_in: int
    script: str | None = None
    analog_rotation_per_kwh: int | None = None


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _lifetime() -> int:
    return int(settings.ENERGYLEAF_SENSOR_TOKEN_LIFETIME_SECONDS)


def _script_delivery(sensor: Sensor) -> tuple[str | None, int | None]:
    """The script or the analog rotations to send; a stored script of only digits is read as
    rotations per kWh, as the reference stored them."""
    if sensor.analog_rotations_per_kwh is not None:
        return None, sensor.analog_rotations_per_kwh
    script = sensor.script
    if script and _DIGITS_ONLY.fullmatch(script.strip()) and "\n" not in script.strip():
        return None, int(script.strip())
    return (script or None), None


def sensor_token_issue(
    *, client_id: str, need_script: bool, now: datetime | None = None
) -> TokenIssue:
    """Issue a token to the sensor with MAC `client_id` (any spelling of the MAC).

    Raises SensorNotFoundError for an unknown MAC or a sensor without household. The script (or
    rotations) is included while the sensor `needs_script` or when the request asks for it; only
    `/script_accepted` clears the flag.
    """
    now = now or timezone.now()
    mac = canonical_mac_or_none(client_id)
    if mac is None:
        raise SensorNotFoundError
    sensor = (
        Sensor.objects.filter(client_id=mac)
        .select_related("user")
        .only(
            "pk",
            "user_id",
            "user__is_active",
            "needs_script",
            "script",
            "analog_rotations_per_kwh",
            "sensor_type",
        )
        .first()
    )
    if sensor is None or sensor.user_id is None or sensor.user is None:
        raise SensorNotFoundError
    if not sensor.user.is_active:
        audit_event_record(
            title="sensor/refused-household-inactive",
            app_function="sensor-token",
            log_type=AuditEvent.LogType.ERROR,
            sensor_id=sensor.pk,
            user_id=sensor.user_id,
            details={"client_id": mac},
        )
        raise HouseholdInactiveError
    token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
    lifetime = _lifetime()
    keep = max(1, int(settings.ENERGYLEAF_SENSOR_MAX_LIVE_TOKENS)) - 1
    with transaction.atomic():
        SensorToken.objects.filter(sensor=sensor, expires_at__lte=now).delete()
        # Kept: used tokens before never-used ones, the newest first within each.
        surplus = list(
            SensorToken.objects.filter(sensor=sensor)
            .order_by(F("used_at").desc(nulls_last=True), "-issued_at", "-pk")
            .values_list("pk", flat=True)[keep:]
        )
        if surplus:
            SensorToken.objects.filter(pk__in=surplus).delete()
        SensorToken.objects.create(
            sensor=sensor,
            token_hash=token_hash(token),
            issued_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            issued_for_user_id=sensor.user_id,
        )
        script, rotations = (None, None)
        if sensor.needs_script or need_script:
            script, rotations = _script_delivery(sensor)
        audit_event_record(
            title="sensor/sent-script" if (script or rotations) else "sensor/token-sent",
            app_function="sensor-token",
            sensor_id=sensor.pk,
            user_id=sensor.user_id,
            details={
                "client_id": mac,
                "need_script": need_script,
                "script_sent": script is not None,
                "rotations_sent": rotations,
            },
        )
    return TokenIssue(
        sensor_id=sensor.pk,
        access_token=token,
        expires_in=lifetime,
        script=script,
        analog_rotation_per_kwh=rotations,
    )


@dataclass(frozen=True, slots=True)
class AuthenticatedSensor:
    """What the sensor endpoints need to know about the sensor behind a valid token."""

    pk: int
    user_id: int
    sensor_type: str
    analog_rotations_per_kwh: int | None
    household_active: bool = True


# First key of the advisory locks that serialise the ingestion of one sensor's readings.
SENSOR_LOCK_NAMESPACE = 0x454C  # "EL"

_AUTHENTICATE_SQL = (
    "SELECT t.expires_at, t.issued_for_user_id, s.id, s.user_id, s.sensor_type, "
    "s.analog_rotations_per_kwh, t.id, t.used_at, u.is_active FROM {token} t "
    "JOIN {sensor} s ON s.id = t.sensor_id LEFT JOIN {user} u ON u.id = s.user_id "
    "WHERE t.token_hash = %s"
)


def sensor_token_authenticate(
    *,
    token: str,
    now: datetime | None = None,
    lock: bool = False,
    allow_inactive_household: bool = False,
) -> AuthenticatedSensor:
    """The sensor a token belongs to, or a TokenError (always a 401). A sensor of a deactivated
    household raises HouseholdInactiveError (403), unless `allow_inactive_household` (the
    caller then records the refusal itself, see `household_active`). The first use of a token is
    recorded (`used_at`, one write per token).

    With `lock`, the sensor row is locked until the surrounding transaction ends, so that the
    readings of one sensor are ingested one request at a time. One hand-written query: this runs
    on every reading, and the ORM's query building cost more than the query itself.
    """
    now = now or timezone.now()
    if not token or len(token) > 64:
        raise TokenNotFoundError
    sql = _AUTHENTICATE_SQL.format(
        token=SensorToken._meta.db_table,
        sensor=Sensor._meta.db_table,
        user=get_user_model()._meta.db_table,
    )
    if lock and connection.vendor == "postgresql":
        # A transaction-scoped advisory lock per sensor, taken in the same round trip. Unlike
        # SELECT ... FOR UPDATE it writes nothing to the sensor row or the WAL. SQLite needs no
        # lock: it runs one writing transaction at a time.
        sql = sql.replace(" FROM ", ", pg_advisory_xact_lock((%s::bigint << 32) + s.id) FROM ", 1)
        params: list[int | str] = [SENSOR_LOCK_NAMESPACE, token_hash(token)]
    else:
        params = [token_hash(token)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise TokenNotFoundError
    expires_at, issued_for, sensor_id, user_id, sensor_type, rotations, token_id, used_at = row[:8]
    household_active = bool(row[8])
    if isinstance(expires_at, str):  # SQLite returns text
        expires_at = parse_datetime(expires_at)
    if timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at, UTC)
    if expires_at <= now:
        raise TokenExpiredError
    if user_id is None or user_id != issued_for:
        raise TokenError  # reset or reassigned since the token was issued
    if not household_active and not allow_inactive_household:
        raise HouseholdInactiveError
    if used_at is None:
        SensorToken.objects.filter(pk=token_id, used_at__isnull=True).update(used_at=now)
    return AuthenticatedSensor(
        pk=sensor_id,
        user_id=user_id,
        sensor_type=sensor_type,
        analog_rotations_per_kwh=rotations,
        household_active=household_active,
    )


def sensor_script_accept(*, token: str) -> Sensor:
    """The sensor confirms its script: it is not sent again until asked for."""
    with transaction.atomic():
        authenticated = sensor_token_authenticate(token=token, lock=True)
        sensor = Sensor.objects.get(pk=authenticated.pk)
        if sensor.needs_script:
            sensor.needs_script = False
            sensor.save(update_fields=["needs_script", "updated_at"])
        audit_event_record(
            title="sensor/accepted-script",
            app_function="accepting-script",
            sensor_id=sensor.pk,
            user_id=sensor.user_id,
        )
    return sensor
