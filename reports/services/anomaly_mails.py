"""Anomaly mails: tell a household about unusual consumption on one of its sensors.

Guarantees: one `AnomalyNotification` row per anomaly sequence (a sequence is mailed at most
once); opted-out households are skipped (recorded); at most one mail per sensor per
`RATE_LIMIT_WINDOW`; SMTP failures are recorded and retried on later runs up to
`MAX_ATTEMPTS`. Each decision is the outbox's (`reports/services/outbox.py`): its own
transaction on a row locked with `select_for_update(skip_locked=True)`, so two concurrent runs
never mail the same anomaly.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.utils import timezone

from energyleaf.common.time import to_local
from energyleaf.users.models import Household, User
from reports.selectors.anomalies import (
    anomalies_without_notification,
    anomaly_mail_sent_recently,
    anomaly_notification_ids_due,
)
from sensors.models import Sensor

from ..models import AnomalyNotification, MailSkipReason
from .mails import app_url, mail_language, templated_mail
from .mails import unsubscribe_url as _unsubscribe_url
from .outbox import MailKind, mail_deliver, mail_recipient_missing

logger = logging.getLogger(__name__)

DETECTION_WINDOW = timedelta(hours=24)
RATE_LIMIT_WINDOW = timedelta(hours=24)
MAX_ATTEMPTS = 3
__all__ = ["ANOMALY_MAIL", "anomaly_mails_send", "unsubscribe_url"]

_DATE_FORMATS = {"de": "%d.%m.%Y, %H:%M %Z", "en": "%Y-%m-%d %H:%M %Z"}


@dataclass(frozen=True)
class AnomalyMailsResult:
    """Counts of one run: rows created and what each processed row became."""

    created: int = 0
    sent: int = 0
    failed: int = 0
    skipped_opted_out: int = 0
    skipped_rate_limited: int = 0
    skipped_no_email: int = 0
    gave_up: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def unsubscribe_url(*, user_id: int) -> str:
    """The absolute unsubscribe link for the user's anomaly mails."""
    return _unsubscribe_url(user_id=user_id, scope="anomaly")


def anomaly_mails_send(*, now: datetime | None = None) -> AnomalyMailsResult:
    """Mail households about anomalies detected within the last 24 h of `now` (aware UTC,
    default the current time); idempotent, safe to run concurrently."""
    now = now or timezone.now()
    detected_since = now - DETECTION_WINDOW
    created = anomaly_notifications_create(detected_since=detected_since)
    counts: dict[str, int] = {}
    for notification_id in anomaly_notification_ids_due(
        detected_since=detected_since, max_attempts=MAX_ATTEMPTS
    ):
        outcome = anomaly_notification_process(notification_id=notification_id, now=now)
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
    result = AnomalyMailsResult(created=created, **counts)
    counts = result.as_dict()
    logger.info("anomaly_mails.run %s", counts, extra={"counts": counts})
    return result


def anomaly_notifications_create(*, detected_since: datetime) -> int:
    """Create a pending notification for every new anomaly since `detected_since`; rows that
    already exist (also from a concurrent run) are left alone. Returns the number attempted."""
    # The household the anomaly happened in (it held the sensor then), if it still exists.
    anomalies = list(anomalies_without_notification(detected_since=detected_since))
    households = set(
        User.objects.filter(pk__in={sequence.household_key for sequence in anomalies}).values_list(
            "pk", flat=True
        )
    )
    rows = [
        AnomalyNotification(
            sequence=sequence, sensor=sequence.sensor, user_id=sequence.household_key
        )
        for sequence in anomalies
        if sequence.household_key in households
    ]
    AnomalyNotification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def anomaly_notification_process(*, notification_id: int, now: datetime) -> str | None:
    """Decide and, if due, send one notification; returns the outcome counter name, or None
    when the row is locked by another worker or no longer due."""
    outcome = mail_deliver(kind=ANOMALY_MAIL, row_id=notification_id, now=now)
    return outcome.name if outcome.handled else None


def _anomaly_mail_compose(
    notification: AnomalyNotification, now: datetime
) -> EmailMessage | MailSkipReason:
    """The anomaly's message, or why it is not mailed: the household opted out (or is gone), the
    user cannot receive mail, or the sensor had an anomaly mail within `RATE_LIMIT_WINDOW`."""
    user = notification.user
    household = Household.objects.filter(user=user).first()
    if household is None or not household.receive_anomaly_mails:
        return MailSkipReason.OPTED_OUT
    if mail_recipient_missing(is_active=user.is_active, email=user.email):
        return MailSkipReason.NO_EMAIL
    # Serialise decisions per sensor so two workers cannot both pass the rate limit. NO KEY
    # UPDATE does not block inserts of rows referencing the sensor (readings).
    list(Sensor.objects.select_for_update(no_key=True).filter(pk=notification.sensor_id))
    if anomaly_mail_sent_recently(
        sensor_id=notification.sensor_id,
        since=now - RATE_LIMIT_WINDOW,
        exclude_id=notification.pk,
    ):
        return MailSkipReason.RATE_LIMITED
    return _anomaly_message(notification=notification, household=household)


def _format_watts(value: float, language: str) -> str:
    text = f"{round(value):,}"
    return (text.replace(",", ".") if language == "de" else text) + " W"


def _anomaly_message(
    *, notification: AnomalyNotification, household: Household
) -> EmailMultiAlternatives:
    language = mail_language(household)
    sequence = notification.sequence
    local_start = to_local(sequence.start, household.time_zone)
    context = {
        "name": notification.user.first_name or notification.user.username,
        "local_time": local_start.strftime(_DATE_FORMATS[language]),
        "average_power": _format_watts(sequence.average_power_w, language),
        "app_url": app_url(),
        "unsubscribe_url": unsubscribe_url(user_id=notification.user_id),
    }
    return templated_mail(
        template=f"reports/mail/anomaly_detected.{language}",
        context=context,
        to=notification.user.email,
        headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>"},
    )


# Retried by later runs up to MAX_ATTEMPTS; a row another worker holds is left to it.
ANOMALY_MAIL = MailKind(
    name="anomaly_mail",
    label="notification",
    model=AnomalyNotification,
    compose=_anomaly_mail_compose,
    select_related=("user", "sensor", "sequence"),
    max_attempts=MAX_ATTEMPTS,
)
