"""Reads for users and households."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import User


def user_with_household(*, user_id: int) -> User:
    """The user with household and experiment data loaded in one query."""
    return User.objects.select_related("household", "experiment").get(pk=user_id)


def users_by_email(*, email: str) -> QuerySet[User]:
    """Users matching `email` case-insensitively (zero or one row)."""
    return User.objects.filter(email__iexact=email.strip())
