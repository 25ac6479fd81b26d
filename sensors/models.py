"""Sensors, sensor tokens and meter readings (the old platform's `sensor`, `sensor_token` and
`sensor_data` tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from simple_history.models import HistoricalRecords

from energyleaf.common.models import TimestampedModel
from energyleaf.common.numbers import REGISTER, format_fixed
from sensors.compute.mac import InvalidMacError, canonical_mac, canonical_mac_or_none

# nanopb limit of TokenResponse.script (666 bytes with the NUL terminator).
SCRIPT_MAX_BYTES = 665


def validate_mac(value: str) -> None:
    """A MAC address in any accepted spelling (stored canonical, `AA:BB:CC:DD:EE:FF`)."""
    from django.core.exceptions import ValidationError

    try:
        canonical_mac(value)
    except InvalidMacError as exc:
        raise ValidationError(
            "Enter a MAC address like AA:BB:CC:DD:EE:FF (dashes, dots or no separators work too).",
            code="invalid_mac",
        ) from exc


def validate_script_size(value: str) -> None:
    from django.core.exceptions import ValidationError

    if len(value.encode("utf-8")) > SCRIPT_MAX_BYTES:
        raise ValidationError(
            "A script must fit the sensor's buffer: at most %(limit)d bytes (UTF-8).",
            params={"limit": SCRIPT_MAX_BYTES},
        )


class Sensor(TimestampedModel):
    """A meter sensor identified by its MAC address (`client_id`, stored in the one canonical
    spelling `AA:BB:CC:DD:EE:FF` whatever spelling was entered, so unique per device),
    assigned to at most one household user per sensor type.

    A sensor gets its SML `script` or, for an analog (Ferraris) meter, its
    `analog_rotations_per_kwh` on its next token request while `needs_script` is set; the
    sensor clears the flag by confirming on `/api/v1/script_accepted`.
    """

    class SensorType(models.TextChoices):
        ELECTRICITY = "electricity", "Electricity"
        GAS = "gas", "Gas"
        WATER = "water", "Water"

    client_id = models.CharField(
        "MAC address",
        max_length=17,
        validators=[validate_mac],
    )
    sensor_type = models.CharField(
        max_length=16, choices=SensorType.choices, default=SensorType.ELECTRICITY
    )
    version = models.PositiveSmallIntegerField(default=1)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sensors",
        help_text="The household the sensor is assigned to; none means it cannot get a token.",
    )
    needs_script = models.BooleanField(default=False)
    script = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(SCRIPT_MAX_BYTES), validate_script_size],
        help_text="Tasmota SML script (at most 665 bytes).",
    )
    analog_rotations_per_kwh = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Ferraris disc revolutions per kWh (analog meters, instead of a script).",
    )

    history = HistoricalRecords()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(Upper("client_id"), name="sensor_client_id_ci_unique"),
            models.UniqueConstraint(
                fields=["sensor_type", "user"],
                condition=models.Q(user__isnull=False),
                name="sensor_one_per_type_and_user",
            ),
            models.CheckConstraint(
                condition=models.Q(script="") | models.Q(analog_rotations_per_kwh__isnull=True),
                name="sensor_script_or_rotations",
            ),
        ]
        permissions: ClassVar = [
            ("reset_sensor", "Can reset sensors (unassign, revoke tokens, ask for the script)"),
            ("revoke_tokens", "Can revoke sensor tokens"),
        ]

    def __str__(self) -> str:
        return self.client_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Whatever path writes the row (admin, service, shell), a valid MAC is stored canonical.
        self.client_id = canonical_mac_or_none(self.client_id) or self.client_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        self.client_id = canonical_mac_or_none(self.client_id) or self.client_id
        if self.script and self.analog_rotations_per_kwh is not None:
            raise ValidationError("Give either a script or analog rotations per kWh, not both.")


# The earliest instant a reading may have (older timestamps are refused): a sensor's first
# assignment starts here, so whatever it buffered before it was assigned is its household's.
ASSIGNMENT_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class SensorAssignment(models.Model):
    """A period [valid_from, valid_to) during which a sensor belonged to a household.

    A reading belongs to the household whose period holds the reading's timestamp, whoever holds
    the sensor now. `valid_to` is null for the open period (at most one per sensor); periods of one
    sensor never overlap (kept by `sensors.services.assignments`). `household_key` is the
    household user's id when the period was opened and stays when the user is deleted (`user`
    becomes null): datasets keep labelling those readings with the same pseudonym, and no one can
    read them as a household any more.
    """

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sensor_assignments",
        help_text="Null once the household was deleted and its readings were left to the study.",
    )
    household_key = models.BigIntegerField(
        help_text="The household user's id when assigned (source of the dataset pseudonym)."
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty: still assigned.")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["sensor"],
                condition=models.Q(valid_to__isnull=True),
                name="sensor_assignment_one_open",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gt=models.F("valid_from")),
                name="sensor_assignment_ends_after_start",
            ),
            # A household is deleted with `analytics.services.households.households_delete`,
            # which ends its open periods first. Any other deletion (a shell, a cascade) would
            # leave the sensor's later readings labelled with the deleted household: the
            # database refuses it instead.
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=False) | models.Q(user__isnull=False),
                name="sensor_assignment_open_has_household",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["sensor", "valid_from"], name="sensor_assignment_sensor_from"),
            models.Index(fields=["household_key"], name="sensor_assignment_household"),
        ]

    def __str__(self) -> str:
        until = f"{self.valid_to:%Y-%m-%d %H:%M}" if self.valid_to else "now"
        since = f"{self.valid_from:%Y-%m-%d %H:%M}"
        return f"{self.sensor_id}: household {self.household_key} {since} to {until}"


class SensorToken(models.Model):
    """A sensor access token. Only the SHA-256 of the token is stored, never the token itself.

    Several live tokens per sensor are allowed (two clients on one MAC, a client that caches its
    token) until they expire; issuing trims beyond a small bound, never-used tokens first.
    """

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The user the sensor was assigned to when issuing: a reassigned sensor's old tokens stop.
    issued_for_user_id = models.BigIntegerField(null=True)
    # First use on a sensor endpoint. Tokens never used are evicted first when a sensor has too
    # many, so tokens fetched by someone who merely knows the MAC cannot push out the sensor's.
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["sensor", "expires_at"])]

    def __str__(self) -> str:
        return f"token of {self.sensor_id} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class Reading(models.Model):
    """One meter reading of a sensor at `timestamp` (UTC), unique per sensor and timestamp.

    Units: `value` and `value_out` are the meter registers (kWh for electricity, m³ for gas and
    water); `consumption` is the import since the previous reading and `inserted` the export
    since the previous reading (same unit); `value_current` is the instantaneous power in W.
    Precision is that of the reference, numeric(30, 6).
    """

    # No index of its own: the unique (sensor, timestamp) index starts with the sensor.
    sensor = models.ForeignKey(
        Sensor, on_delete=models.PROTECT, related_name="readings", db_index=False
    )
    timestamp = models.DateTimeField()
    value = models.DecimalField(max_digits=30, decimal_places=6)
    consumption = models.DecimalField(max_digits=30, decimal_places=6)
    value_out = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    inserted = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    value_current = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    flags = models.PositiveSmallIntegerField(
        default=0, help_text="Quality flags, a bit set of ReadingFlag (0: as measured)."
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            # Also the index for every time-range read of one sensor.
            models.UniqueConstraint(
                fields=["sensor", "timestamp"], name="reading_sensor_time_uniq"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["timestamp"], name="reading_time_idx"),
            # Incremental rollups find what arrived since their last run (late readings too).
            models.Index(fields=["received_at"], name="reading_received_idx"),
        ]

    def __str__(self) -> str:
        value = format_fixed(self.value, REGISTER)
        return f"{self.sensor_id} {self.timestamp:%Y-%m-%d %H:%M:%S} {value}"


class ReadingFlag:
    """Bits of `Reading.flags`: how a stored reading differs from what the sensor measured."""

    VALUE_CURRENT_REPLACED = 1  # power outside -20 kW..40 kW or not finite: previous value kept
    VALUE_OUT_REPLACED = 2  # feed-in register went back or jumped: previous value kept
    METER_REPLACED = 4  # first reading of a new meter: consumption since the old one unknown (0)
    SERVER_TIME = 8  # the sensor sent no timestamp; the server's receive time is used
    BACKFILLED = 16  # arrived after a later reading of the same sensor had been stored
    # Readings imported from the old platform are kept as it stored them; these mark the ones
    # today's rules would have refused or changed, nothing is corrected
    # (docs/operations.md, "Import from the old platform").
    IMPORTED_IMPLAUSIBLE_VALUE = 32  # register not positive, went down or rose too fast
    IMPORTED_IMPLAUSIBLE_POWER = 64  # power outside -20 kW..40 kW
    IMPORTED_IMPLAUSIBLE_OUT = 128  # feed-in register negative, went back or jumped

    LABELS: ClassVar[dict[int, str]] = {
        VALUE_CURRENT_REPLACED: "value_current_replaced",
        VALUE_OUT_REPLACED: "value_out_replaced",
        METER_REPLACED: "meter_replaced",
        SERVER_TIME: "server_time",
        BACKFILLED: "backfilled",
        IMPORTED_IMPLAUSIBLE_VALUE: "imported_implausible_value",
        IMPORTED_IMPLAUSIBLE_POWER: "imported_implausible_power",
        IMPORTED_IMPLAUSIBLE_OUT: "imported_implausible_out",
    }

    @classmethod
    def names(cls, flags: int) -> list[str]:
        return [label for bit, label in cls.LABELS.items() if flags & bit]


class RejectedReading(models.Model):
    """A reading the server refused, with the reason it answered (nothing is dropped silently).

    `measured_at` is the reading's own time when known. A rejected reading may later be resolved,
    for example when consistent readings confirm a meter replacement and it is stored after all.
    """

    class Reason(models.TextChoices):
        VALUE_NOT_POSITIVE = "value_not_positive", "Value is zero or negative"
        VALUE_NOT_FINITE = "value_not_finite", "Value is not a finite number"
        VALUE_TOO_HIGH = "value_too_high", "Value rose faster than plausible"
        VALUE_DECREASED = "value_decreased", "Value lower than the previous reading"
        VALUE_ABOVE_LATER = "value_above_later", "Value higher than a later reading"
        TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range", "Timestamp out of range"
        OUT_OF_ORDER = "out_of_order", "Older than the latest reading (increment sensor)"
        DUPLICATE_CONFLICT = "duplicate_conflict", "Same time as a stored reading, other value"
        SENSOR_TYPE_MISMATCH = "sensor_type_mismatch", "Message does not fit the sensor type"
        HOUSEHOLD_INACTIVE = "household_inactive", "The sensor's household is deactivated"

    class Resolution(models.TextChoices):
        METER_REPLACEMENT = "meter_replacement", "Stored after a confirmed meter replacement"

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="rejected_readings")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    measured_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    status_message = models.CharField(max_length=254)
    value = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    payload = models.JSONField(default=dict, help_text="The reading as received (no token).")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=32, choices=Resolution.choices, blank=True)

    class Meta:
        constraints: ClassVar = [
            # A client re-sending the same refused reading does not grow the log.
            models.UniqueConstraint(
                fields=["sensor", "measured_at", "reason"], name="rejected_reading_once"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["sensor", "measured_at"])]

    def __str__(self) -> str:
        return f"{self.sensor_id} {self.measured_at} {self.reason}"


class MeterEvent(models.Model):
    """A change of the meter behind a sensor, detected from its readings or entered by an admin.

    For a replacement, `previous_value` is the last reading of the old meter and `new_value` the
    first reading of the new one; consumption across the change is unknown and stored as 0.
    """

    class Kind(models.TextChoices):
        REPLACEMENT = "replacement", "Meter replacement"

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="meter_events")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REPLACEMENT)
    occurred_at = models.DateTimeField(help_text="Time of the first reading of the new meter.")
    previous_value = models.DecimalField(max_digits=30, decimal_places=6, null=True)
    new_value = models.DecimalField(max_digits=30, decimal_places=6)
    confirming_readings = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["sensor", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.sensor_id} {self.kind} at {self.occurred_at}"
