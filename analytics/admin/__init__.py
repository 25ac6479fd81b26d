"""Admin of the analytics app; each sub-domain registers its pages in its own module."""

from . import fleet, sequences  # noqa: F401 - imported for their registrations
