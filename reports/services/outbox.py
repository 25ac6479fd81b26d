"""The mail outbox: one send-and-record for every kind of mail reports sends (report mails,
anomaly mails, survey invitations; docs/operations.md, "Mail outbox").

A mail is a row of a model built on `MailDelivery` (one status machine, one set of field names).
A kind (`MailKind`) names its model, how its row is locked, its attempt limit and a `compose`
callable that returns the message to send or the reason not to send it. `mail_deliver` does the
rest, the same way for every kind, in one transaction on the locked row:

- lock the row (`select_for_update`; a kind either waits for a row another worker holds or
  leaves it to that worker);
- leave it alone unless it is due (`pending`, or `failed` below the kind's attempt limit), so a
  re-delivered task or a second run never sends a mail twice;
- call `compose`: a `MailSkipReason` is recorded as `skipped`; a message is sent through
  Django's mail API after counting the attempt;
- record `sent` (with the time, the last error cleared) or, on a transport error
  (`MAIL_ERRORS`), `failed` with the error's text, plus an error event in the audit log
  (`mail/send-failed`, read by the staff daily digest), and hand the error back for the
  caller's retry policy.

`mail_resend` sets rows back to `pending` for an admin, each recorded in the audit log.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet

from energyleaf.audit.models import AuditEvent
from energyleaf.audit.services import audit_event_record

from ..models import MailDelivery, MailSkipReason, MailStatus

logger = logging.getLogger(__name__)

# Errors of the mail transport: recorded on the row and tried again later.
MAIL_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError)
MAX_ERROR_LENGTH = 2000
# Title of the audit event of every failed send (the staff digest's "failed mails").
MAIL_FAILED_TITLE = "mail/send-failed"
AUDIT_ERROR_LENGTH = 300

MailRow = TypeVar("MailRow", bound=MailDelivery)


@dataclass(frozen=True)
class MailKind(Generic[MailRow]):
    """One kind of mail. `name` starts its log events (`<name>.failed`); `label` names a row in
    log lines and audit details (`report=5`, `report_id`). `compose(row, now)` runs inside the
    transaction on the locked row (with `select_related` loaded) and returns the message or the
    reason to skip. `max_attempts` None leaves retries to the caller (a Celery task's retries);
    `wait_for_lock` False leaves a row another worker holds to that worker."""

    name: str
    label: str
    model: type[MailRow]
    compose: Callable[[MailRow, datetime], EmailMessage | MailSkipReason]
    select_related: tuple[str, ...] = ()
    max_attempts: int | None = None
    wait_for_lock: bool = False


@dataclass(frozen=True)
class MailOutcome:
    """What `mail_deliver` did: `sent`, `failed`, `gave_up` (failed at the attempt limit),
    `skipped_<reason>`, `not_due` (already sent or skipped, or out of attempts) or `missing` (no
    such row, or a row another worker holds for a kind that does not wait). `error` is the
    transport error of `failed` and `gave_up`."""

    name: str
    error: Exception | None = None

    @property
    def handled(self) -> bool:
        """Whether this call decided the row (not `missing` or `not_due`)."""
        return self.name not in ("missing", "not_due")


def mail_recipient_missing(*, is_active: bool, email: str) -> bool:
    """Whether a user cannot receive mail: inactive or without an e-mail address
    (`MailSkipReason.NO_EMAIL`)."""
    return not is_active or not email


@transaction.atomic
def mail_deliver(*, kind: MailKind[MailRow], row_id: int, now: datetime) -> MailOutcome:
    """Send the mail of row `row_id` of `kind` if it is still due and record what happened
    (`now`, aware UTC, is the sending time). Idempotent: a row that is sent, skipped or out of
    attempts is left alone, so a retry never sends twice. A transport error is recorded and
    returned, not raised."""
    row = (
        kind.model._default_manager.select_for_update(
            skip_locked=not kind.wait_for_lock, of=("self",)
        )
        .select_related(*kind.select_related)
        .filter(pk=row_id)
        .first()
    )
    if row is None:
        return MailOutcome("missing")
    if not row.mail_is_due(max_attempts=kind.max_attempts):
        return MailOutcome("not_due")
    composed = kind.compose(row, now)
    if isinstance(composed, MailSkipReason):
        row.mail_status = MailStatus.SKIPPED
        row.mail_skip_reason = composed
        _mail_save(row, ["mail_status", "mail_skip_reason"])
        return MailOutcome(f"skipped_{composed.value}")
    row.mail_attempts += 1
    try:
        composed.send()
    except MAIL_ERRORS as error:
        row.mail_status = MailStatus.FAILED
        row.mail_last_error = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
        _mail_save(row, ["mail_status", "mail_last_error", "mail_attempts"])
        logger.warning(
            "%s.failed %s=%s attempts=%s",
            kind.name,
            kind.label,
            row.pk,
            row.mail_attempts,
            extra={f"{kind.label}_id": row.pk, "attempts": row.mail_attempts},
        )
        out_of_attempts = kind.max_attempts is not None and row.mail_attempts >= kind.max_attempts
        audit_event_record(
            title=MAIL_FAILED_TITLE,
            app_function=f"{kind.name}-send",
            log_type=AuditEvent.LogType.ERROR,
            app_component=AuditEvent.Component.WORKER,
            details={
                "kind": kind.name,
                "model": row._meta.label_lower,
                "row_id": row.pk,
                "attempts": row.mail_attempts,
                "gave_up": out_of_attempts,
                "error": row.mail_last_error[:AUDIT_ERROR_LENGTH],
            },
        )
        return MailOutcome("gave_up" if out_of_attempts else "failed", error)
    row.mail_status = MailStatus.SENT
    row.mail_sent_at = now
    row.mail_last_error = ""
    _mail_save(row, ["mail_status", "mail_sent_at", "mail_last_error", "mail_attempts"])
    return MailOutcome("sent")


@transaction.atomic
def mail_resend(
    *,
    kind: MailKind[MailRow],
    rows: QuerySet[MailRow],
    actor_id: int,
    enqueue: Callable[[int], None],
) -> int:
    """Set the given rows back to `pending` (attempts, error and skip reason cleared), record
    each in the audit log with the admin (`<label>/mail-resend`) and `enqueue` its id (which
    should send after commit). Sending still decides afresh (an opt-out still wins). Returns the
    number of rows queued."""
    queued = 0
    for row in rows.select_for_update().order_by("pk"):
        previous_status = row.mail_status
        row.mail_status = MailStatus.PENDING
        row.mail_skip_reason = ""
        row.mail_attempts = 0
        row.mail_last_error = ""
        _mail_save(row, ["mail_status", "mail_skip_reason", "mail_attempts", "mail_last_error"])
        audit_event_record(
            title=f"{kind.label}/mail-resend",
            app_function=f"{kind.label}-mail-resend",
            log_type="action",
            app_component="admin",
            user_id=actor_id,
            details={
                f"{kind.label}_id": row.pk,
                "household_user_id": getattr(row, "user_id", None),
                "previous_mail_status": previous_status,
            },
        )
        enqueue(row.pk)
        queued += 1
    return queued


def _mail_save(row: MailDelivery, fields: Iterable[str]) -> None:
    # Field checks of the mail fields only (choices, lengths): the other fields are not touched
    # and the check constraints are the database's.
    others = [field.name for field in row._meta.fields if field.name not in row.MAIL_FIELDS]
    row.full_clean(exclude=others, validate_unique=False, validate_constraints=False)
    touched = [field.name for field in row._meta.fields if getattr(field, "auto_now", False)]
    row.save(update_fields=[*fields, *touched])
