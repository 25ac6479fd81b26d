"""Reports data: the mail outbox's status machine (`MailDelivery`), anomaly mails, report
settings, reports with their days and mail state, the survey routine's invitations (its
status transitions are `energyleaf.users`' `ExperimentStatusTransition`) and the staff daily
digest with its mails."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from analytics.models import Sequence
from sensors.models import Sensor


class MailStatus(models.TextChoices):
    """The one status machine of every mail row (docs/operations.md, "Mail outbox"): `pending`
    until the outbox sends it (`sent`), records a transport failure (`failed`: tried again while
    the kind allows) or decides not to send it (`skipped`, with a `MailSkipReason`)."""

    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class MailSkipReason(models.TextChoices):
    """Why a mail was not sent; a kind uses the reasons that apply to it."""

    OPTED_OUT = "opted_out", "Household does not want these mails"
    NO_EMAIL = "no_email", "User inactive or without e-mail"
    NO_DATA = "no_data", "Report without data"
    RATE_LIMITED = "rate_limited", "A mail for this sensor was sent within 24 hours"


# The states a mail is (still) to be sent from.
MAIL_STATUSES_DUE = (MailStatus.PENDING, MailStatus.FAILED)


class MailDelivery(models.Model):
    """The sending state of one mail, shared by every mail kind (report mails, anomaly mails,
    survey invitations) and written only by the outbox (`reports/services/outbox.py`).

    `mail_attempts` counts transport attempts; `mail_last_error` keeps the last failure's text
    (emptied once sent); `mail_sent_at` (UTC) is set with `sent`; `mail_skip_reason` is set
    exactly when `skipped`. A row is due while `pending` or `failed` and, for kinds with an
    attempt limit, below that limit."""

    mail_status = models.CharField(
        max_length=16, choices=MailStatus.choices, default=MailStatus.PENDING
    )
    mail_skip_reason = models.CharField(max_length=16, choices=MailSkipReason.choices, blank=True)
    mail_attempts = models.PositiveSmallIntegerField(default=0)
    mail_last_error = models.TextField(blank=True)
    mail_sent_at = models.DateTimeField(null=True, blank=True)

    MAIL_FIELDS: ClassVar = (
        "mail_status",
        "mail_skip_reason",
        "mail_attempts",
        "mail_last_error",
        "mail_sent_at",
    )

    class Meta:
        abstract = True
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(
                    models.Q(mail_status="skipped", mail_skip_reason__gt="")
                    | (~models.Q(mail_status="skipped") & models.Q(mail_skip_reason=""))
                ),
                name="%(class)s_mail_skip_reason_iff_skipped",
            ),
            models.CheckConstraint(
                condition=models.Q(mail_status="sent", mail_sent_at__isnull=False)
                | ~models.Q(mail_status="sent"),
                name="%(class)s_mail_sent_has_time",
            ),
        ]

    @staticmethod
    def mail_due_filter(*, max_attempts: int | None = None) -> models.Q:
        """The rows still to be sent, as a filter: `pending` or `failed`, and fewer than
        `max_attempts` attempts when a limit is given."""
        due = models.Q(mail_status__in=MAIL_STATUSES_DUE)
        if max_attempts is not None:
            due &= models.Q(mail_attempts__lt=max_attempts)
        return due

    def mail_is_due(self, *, max_attempts: int | None = None) -> bool:
        """Whether this row is still to be sent (the same rule as `mail_due_filter`)."""
        return self.mail_status in MAIL_STATUSES_DUE and (
            max_attempts is None or self.mail_attempts < max_attempts
        )


class AnomalyNotification(MailDelivery):
    """The anomaly mail for one anomaly `Sequence`: at most one row per sequence, so a sequence is
    mailed at most once. `pending` rows wait for the next run; `failed` rows are retried until
    `mail_attempts` reaches the limit; `skipped` rows name their `mail_skip_reason` (opted out,
    no e-mail, rate limited). Times are UTC."""

    sequence = models.OneToOneField(
        Sequence, on_delete=models.CASCADE, related_name="anomaly_notification"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="anomaly_notifications"
    )
    sensor = models.ForeignKey(
        Sensor, on_delete=models.CASCADE, related_name="anomaly_notifications"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(MailDelivery.Meta):
        indexes: ClassVar = [
            models.Index(
                fields=["sensor", "mail_status", "mail_sent_at"], name="anomaly_notif_sensor_sent"
            ),
            models.Index(fields=["mail_status", "created_at"], name="anomaly_notif_status_created"),
        ]

    def __str__(self) -> str:
        return f"anomaly mail for sequence {self.sequence_id}: {self.mail_status}"


class ReportSettings(models.Model):
    """When the household's consumption report is built (the old platform's `report_config`).

    `local_hour` is an hour of the household's own time zone (`Household.time_zone`), not of the
    server (docs/design.md, difference 10). `last_report_at` (UTC) is when the last report was
    built; None means never. `receive_mails` only decides whether the report is mailed: reports
    are built either way. One row per user, created with the defaults on first use."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_settings"
    )
    receive_mails = models.BooleanField(default=True)
    interval_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(7)],
        help_text="A report covers this many full local days and is built every so many days.",
    )
    local_hour = models.PositiveSmallIntegerField(
        default=6,
        validators=[MinValueValidator(0), MaxValueValidator(23)],
        help_text="Hour of the day (0-23) in the household's time zone.",
    )
    last_report_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "report settings"
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(interval_days__gte=1, interval_days__lte=7),
                name="report_settings_interval_1_to_7",
            ),
            models.CheckConstraint(
                condition=models.Q(local_hour__gte=0, local_hour__lte=23),
                name="report_settings_hour_0_to_23",
            ),
        ]

    def __str__(self) -> str:
        return f"report settings of user {self.user_id}"


class Report(MailDelivery):
    """One consumption report of a household over `[period_start, period_end)`: the local days
    `first_day`..`last_day` of the household's zone, as aware UTC bounds (a local day has 23, 24
    or 25 hours). At most one report per user and period.

    Energy in kWh (3 decimals), money in € (2 decimals). `total_cost_eur` is the sum over the
    days of consumption * working price plus the monthly base price prorated per local day (base
    price / days of that day's month); None without a working price. Averages divide by the
    number of days of the period, days without readings included (as the reference does).
    `best_day` has the lowest consumption, `worst_day` the highest; ties go to the later day.
    Status `no_data` (with `no_data_reason`) leaves the figures empty.

    The mail (`MailDelivery`): `pending` until the mail task sends it (`sent`) or gives up after
    its retries (`failed`); `skipped` (no data, opted out, no e-mail) when it is not to be
    mailed. The report stays stored and visible whatever the mail's fate; it is mailed at most
    once unless an admin resends it (which sets it back to `pending`)."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        NO_DATA = "no_data", "No data"

    class NoDataReason(models.TextChoices):
        NO_HOUSEHOLD = "no_household", "No household data"
        NO_SENSOR = "no_sensor", "No electricity sensor"
        NO_READINGS = "no_readings", "No readings in the period"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    first_day = models.DateField(help_text="First local day of the period.")
    last_day = models.DateField(help_text="Last local day of the period (included).")
    time_zone = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    no_data_reason = models.CharField(max_length=16, choices=NoDataReason.choices, blank=True)
    total_consumption_kwh = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True
    )
    average_daily_consumption_kwh = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True
    )
    total_cost_eur = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    average_daily_cost_eur = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True
    )
    best_day = models.DateField(null=True, blank=True)
    best_day_consumption_kwh = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True
    )
    worst_day = models.DateField(null=True, blank=True)
    worst_day_consumption_kwh = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(MailDelivery.Meta):
        constraints: ClassVar = [
            *MailDelivery.Meta.constraints,
            models.UniqueConstraint(
                fields=["user", "period_start", "period_end"], name="report_user_period_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")),
                name="report_period_not_empty",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="no_data", no_data_reason__gt="")
                    | (~models.Q(status="no_data") & models.Q(no_data_reason=""))
                ),
                name="report_no_data_reason_iff_no_data",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["user", "-period_start"], name="report_user_period_idx"),
        ]

    def __str__(self) -> str:
        return f"report of user {self.user_id}: {self.first_day} to {self.last_day}"


class ReportDay(models.Model):
    """One local day of a report: its consumption (kWh), its cost (€, None without a working
    price) and, for households in the self-reflection or support arm with a positive daily goal,
    the goal, whether it was exceeded (consumption > goal) and the progress (consumption / goal *
    100, in percent)."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    consumption_kwh = models.DecimalField(max_digits=14, decimal_places=3)
    goal_kwh = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    exceeded = models.BooleanField(null=True, blank=True)
    progress_percent = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    cost_eur = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Consumption * working price + that day's share of the monthly base price.",
    )

    class Meta:
        ordering: ClassVar = ["day"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["report", "day"], name="report_day_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.consumption_kwh} kWh"


class SurveyInvitation(MailDelivery):
    """The invitation mail to survey `survey_number` (2 or 3) of one user: at most one row per
    user and survey, so nobody is invited twice. Created `pending` together with the status
    change; the mail is then sent, and a failed one is tried again by the next runs until
    `mail_attempts` reaches the limit (never `skipped`). `survey_id` and `link` are those of the
    mail."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="survey_invitations"
    )
    survey_number = models.PositiveSmallIntegerField()
    survey_id = models.CharField(max_length=64)
    link = models.URLField(max_length=500)
    created_at = models.DateTimeField()

    class Meta(MailDelivery.Meta):
        constraints: ClassVar = [
            *MailDelivery.Meta.constraints,
            models.UniqueConstraint(
                fields=["user", "survey_number"], name="survey_invitation_user_survey_uniq"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["mail_status", "mail_attempts"], name="survey_invitation_status"),
        ]

    def __str__(self) -> str:
        return f"survey {self.survey_number} invitation of user {self.user_id}: {self.mail_status}"


class StaffDigest(models.Model):
    """The staff daily digest of one UTC `day` (the day of its first run): what happened in
    [`window_start`, `window_end`) as composed then (`sections`: a list of
    `{"key", "title", "count", "lines": [{"text", "url"}], "more"}`), so that a retry of the same
    day mails the same content and nothing twice. Stored only when a section has something to
    say; its mails are `StaffDigestMail` rows (docs/operations.md, "Staff daily digest")."""

    day = models.DateField(unique=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    sections = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(window_end__gt=models.F("window_start")),
                name="staff_digest_window_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"staff digest of {self.day}"


class StaffDigestMail(MailDelivery):
    """The mail of one staff digest to one support staff member: at most one row per digest and
    user, so a retried or repeated run of the day never mails anyone twice. Failed rows are
    tried again by the task's retries until `mail_attempts` reaches the limit; `skipped` with
    `no_email` when the account was deactivated or lost its e-mail in between."""

    digest = models.ForeignKey(StaffDigest, on_delete=models.CASCADE, related_name="mails")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_digest_mails"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(MailDelivery.Meta):
        constraints: ClassVar = [
            *MailDelivery.Meta.constraints,
            models.UniqueConstraint(fields=["digest", "user"], name="staff_digest_mail_uniq"),
        ]

    def __str__(self) -> str:
        return f"staff digest mail of {self.digest_id} to user {self.user_id}: {self.mail_status}"
