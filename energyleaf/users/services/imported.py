"""Writes for accounts brought in from another system (the import from the old platform,
`energyleaf/legacy`): a user with a password hash already made, its household and participation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from energyleaf.users.models import ExperimentParticipation, Household, User


@transaction.atomic
def user_import(
    *,
    email: str,
    password_hash: str,
    survey_token: str,
    user_fields: dict[str, Any],
    household: dict[str, Any],
    participation: dict[str, Any] | None,
    date_joined: datetime | None,
) -> User:
    """Create a user whose password is the hash given (in Django's encoding: the old password
    keeps working), with its household row and, for participants, its participation. The
    e-mail is stored lower-case and must be new (case-insensitive). `survey_token` is the token
    the survey tool knows the participant by. Raises ValidationError; nothing is written then."""
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"A user with e-mail {email} exists already."})
    user = User(email=email, survey_token=survey_token, **user_fields)
    user.password = password_hash  # already hashed; set_password would hash it again
    if date_joined is not None:
        user.date_joined = date_joined
    user.full_clean(exclude=["password"])
    user.save()
    household_row = Household(user=user, **household)
    household_row.full_clean()
    household_row.save()
    if participation is not None:
        row = ExperimentParticipation(user=user, **participation)
        row.full_clean()
        row.save()
    return user
