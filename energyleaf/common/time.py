"""Time helpers: everything inside is UTC; local time only at the edges, with explicit zones."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError


def validate_time_zone(value: str) -> None:
    """Raise ValidationError unless `value` is an IANA time zone name known to zoneinfo."""
    if value not in _time_zone_names():
        raise ValidationError("%(value)s is not a known IANA time zone.", params={"value": value})


def default_household_time_zone() -> str:
    """The configured default zone for new households (Europe/Berlin unless set)."""
    return str(settings.ENERGYLEAF_DEFAULT_HOUSEHOLD_TIME_ZONE)


def to_local(moment: datetime, zone_name: str) -> datetime:
    """Convert an aware UTC datetime to the wall clock of `zone_name`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; every datetime inside the project is aware UTC")
    return moment.astimezone(ZoneInfo(zone_name))


_ZONES: frozenset[str] | None = None


def retention_cut_off(*, now: datetime, days: int) -> datetime | None:
    """The instant before which data kept for `days` days is past its retention; None when
    `days` is 0 or less (kept forever)."""
    return now - timedelta(days=days) if days > 0 else None


def _time_zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES
