"""People: the custom user, the household data and experiment participation (the old platform's
`user`, `user_data` and `user_experiment_data` tables).

History of every change is kept by django-simple-history, as the reference kept history tables.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from simple_history.models import HistoricalRecords

from energyleaf.common.models import TimestampedModel
from energyleaf.common.time import default_household_time_zone, validate_time_zone


class UserManager(BaseUserManager["User"]):
    """Creates users identified by e-mail (stored lower-case)."""

    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person: a household member (study participant) or staff. `is_staff` only lets one log
    into the admin; what staff may see and do comes from their groups' model permissions (the
    roles administrator, researcher, support: `energyleaf/users/services/roles.py`).

    Logs in with the e-mail address (unique, case-insensitive). `username` is only a display name,
    as in the reference, and need not be unique.
    """

    username = models.CharField(max_length=150, blank=True)
    email = models.EmailField("e-mail address", unique=True)
    phone = models.CharField(max_length=50, blank=True)
    address = models.CharField(max_length=255, blank=True)
    is_participant = models.BooleanField(
        default=False, help_text="Takes part in the research study (has experiment data)."
    )
    onboarding_completed = models.BooleanField(default=False)
    activation_date = models.DateTimeField(null=True, blank=True)
    survey_token = models.CharField(
        max_length=64,
        blank=True,
        help_text=(
            "The participant's token in the survey tool when it is not the user id: accounts "
            "imported from the old platform keep their old id, which the survey tool holds."
        ),
    )
    auth_generation = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=(
            "Counts password changes and deactivations; JWTs and sessions of an older "
            "generation are refused."
        ),
    )

    history = HistoricalRecords(excluded_fields=["password", "last_login", "auth_generation"])

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]
        permissions: ClassVar = [
            ("deactivate_user", "Can activate and deactivate users"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def survey_tool_token(self) -> str:
        """The token the survey tool knows the participant by: the imported old id, else the
        user id, without `-` and `_` (as the old platform wrote it)."""
        token = self.survey_token or str(self.pk)
        return token.replace("-", "").replace("_", "")

    def clean(self) -> None:
        super().clean()
        self.email = self.email.lower()

    # --- Ending sessions and tokens ---------------------------------------------------------------
    # Every JWT carries the generation it was issued in (`energyleaf.users.api.jwt`) and the session
    # hash includes it, so raising `auth_generation` ends every JWT (access and refresh) and every
    # admin session of the user at once. It rises when the password is set (changed, reset or
    # made unusable; not when Django merely re-hashes it at login, nor for a new user) and when
    # the user is saved inactive.

    def _bump_auth_generation(self) -> None:
        self.auth_generation = (self.auth_generation or 0) + 1
        self._auth_generation_bumped = True

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        if self.pk is not None and not getattr(self, "_rehashing", False):
            self._bump_auth_generation()  # a new user has no sessions to end

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        if self.pk is not None:
            self._bump_auth_generation()

    def check_password(self, raw_password: str) -> bool:
        # A successful check may re-hash the password with newer parameters (set_password +
        # save): the same password, so sessions and tokens stay.
        self._rehashing = True
        try:
            return super().check_password(raw_password)
        finally:
            self._rehashing = False

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if not self.is_active and (update_fields is None or "is_active" in update_fields):
            self._bump_auth_generation()
        if (
            getattr(self, "_auth_generation_bumped", False)
            and update_fields is not None
            and "auth_generation" not in update_fields
        ):
            kwargs["update_fields"] = [*update_fields, "auth_generation"]
        super().save(*args, **kwargs)
        self._auth_generation_bumped = False

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's hash of the password, with the generation mixed in once it is above 0 (so
        # sessions from before this field existed stay valid until the first change).
        if not self.auth_generation:
            return str(super()._get_session_auth_hash(secret=secret))  # type: ignore[misc]
        return salted_hmac(
            "energyleaf.users.User.get_session_auth_hash",
            f"{self.password}:{self.auth_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


HOUSEHOLD_PROFILE_FIELDS: tuple[str, ...] = (
    "tariff",
    "base_price_per_month",
    "working_price_per_kwh",
    "advance_payment_per_month",
    "household_size",
    "property_type",
    "living_space_m2",
    "hot_water",
    "daily_consumption_goal_kwh",
    "meter_number",
    "meter_type",
    "time_zone",
    "language",
    "receive_anomaly_mails",
)
"""The `Household` fields that are the household's own answers and settings: shown to it by the
API and changed through `services.household_update`."""


class Household(TimestampedModel):
    """The household data of one user (reference `user_data`): tariff, prices, home, meter, zone.

    Prices are in euros: `base_price_per_month` (€/month), `working_price_per_kwh` (€/kWh),
    `advance_payment_per_month` (€/month). `daily_consumption_goal_kwh` is kWh per local day.
    """

    class Tariff(models.TextChoices):
        BASIC = "basic", "Basic"
        ECO = "eco", "Eco"

    class Property(models.TextChoices):
        HOUSE = "house", "House"
        APARTMENT = "apartment", "Apartment"

    class HotWater(models.TextChoices):
        ELECTRIC = "electric", "Electric"
        NOT_ELECTRIC = "not_electric", "Not electric"

    class MeterType(models.TextChoices):
        DIGITAL = "digital", "Digital"
        ANALOG = "analog", "Analog"

    class AppVersion(models.IntegerChoices):
        TRANSPARENCY = 0, "Transparency"
        SELF_REFLECTION = 1, "Self-reflection"
        SUPPORT = 2, "Support"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="household")
    tariff = models.CharField(max_length=16, choices=Tariff.choices, default=Tariff.BASIC)
    base_price_per_month = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="€ per month"
    )
    working_price_per_kwh = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True, help_text="€ per kWh"
    )
    advance_payment_per_month = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="€ per month"
    )
    household_size = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    property_type = models.CharField(max_length=16, choices=Property.choices, blank=True)
    living_space_m2 = models.PositiveIntegerField(null=True, blank=True, help_text="m²")
    hot_water = models.CharField(max_length=16, choices=HotWater.choices, blank=True)
    daily_consumption_goal_kwh = models.DecimalField(
        max_digits=10, decimal_places=3, null=True, blank=True, help_text="kWh per local day"
    )
    meter_number = models.CharField(max_length=64, blank=True)
    meter_type = models.CharField(max_length=16, choices=MeterType.choices, blank=True)
    power_at_meter = models.BooleanField(default=False)
    wifi_at_meter = models.BooleanField(default=False)
    installation_comment = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64,
        default=default_household_time_zone,
        validators=[validate_time_zone],
        help_text="IANA zone of the household; local days and report hours use it.",
    )
    language = models.CharField(
        max_length=8, default="de", help_text="Language of mails (de or en)."
    )
    app_version = models.PositiveSmallIntegerField(
        choices=AppVersion.choices,
        default=AppVersion.TRANSPARENCY,
        help_text="Study arm: which features the household sees.",
    )
    receive_anomaly_mails = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(base_price_per_month__gte=0)
                | models.Q(base_price_per_month__isnull=True),
                name="household_base_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(working_price_per_kwh__gte=0)
                | models.Q(working_price_per_kwh__isnull=True),
                name="household_working_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Household of {self.user.email}"


class ExperimentParticipation(TimestampedModel):
    """A user's participation in the study (the old platform's `user_experiment_data`, with its
    statuses)."""

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        APPROVED = "approved", "Approved"
        DISMISSED = "dismissed", "Dismissed"
        EXPORTED = "exported", "Exported"
        FIRST_SURVEY = "first_survey", "First survey"
        FIRST_FINISHED = "first_finished", "First survey finished"
        INSTALLATION = "installation", "Installation"
        SECOND_SURVEY = "second_survey", "Second survey"
        SECOND_FINISHED = "second_finished", "Second survey finished"
        THIRD_SURVEY = "third_survey", "Third survey"
        THIRD_FINISHED = "third_finished", "Third survey finished"
        DEINSTALLATION = "deinstallation", "Deinstallation"
        INACTIVE = "inactive", "Inactive"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="experiment")
    status = models.CharField(
        max_length=32, choices=Status.choices, default=Status.REGISTERED, db_index=True
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    installation_date = models.DateTimeField(null=True, blank=True)
    deinstallation_date = models.DateTimeField(null=True, blank=True)
    experiment_number = models.IntegerField(null=True, blank=True)
    gets_paid = models.BooleanField(default=True)
    uses_prolific = models.BooleanField(default=False)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "experiment participation"

    def __str__(self) -> str:
        return f"{self.user.email}: {self.status}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.status == self.Status.INSTALLATION and self.installation_date is None:
            raise ValidationError({"installation_date": "Installation needs an installation date."})
        if self.status == self.Status.DEINSTALLATION and self.deinstallation_date is None:
            raise ValidationError(
                {"deinstallation_date": "Deinstallation needs a deinstallation date."}
            )


class ExperimentStatusTransition(models.Model):
    """One change of a participant's experiment status: from, to, when (UTC) and what made it.

    Written by `participation_status_change` (`energyleaf/users/services/participation.py`) in
    the same transaction as the status change, so the rows are the complete history of the
    changes made by the survey routine and by marking participants as exported (admins' edits in
    the admin are in the participation history)."""

    class Source(models.TextChoices):
        SURVEY_ROUTINE = "survey_routine", "Daily survey routine"
        EXPORT_MARK = "export_mark", "Marked as exported"

    participation = models.ForeignKey(
        ExperimentParticipation, on_delete=models.CASCADE, related_name="status_transitions"
    )
    from_status = models.CharField(max_length=32, choices=ExperimentParticipation.Status.choices)
    to_status = models.CharField(max_length=32, choices=ExperimentParticipation.Status.choices)
    changed_at = models.DateTimeField()
    source = models.CharField(max_length=32, choices=Source.choices)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["participation", "changed_at"], name="exp_transition_part_at"),
        ]

    def __str__(self) -> str:
        return f"{self.participation_id}: {self.from_status} -> {self.to_status}"
