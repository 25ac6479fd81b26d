"""Admin of the users app: `accounts` (users, households, experiment participation; imported
here for its registrations) and `login` (the rate-limited admin login)."""

from . import accounts  # noqa: F401 - imported for its registrations
