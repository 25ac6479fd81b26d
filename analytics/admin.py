"""Admin of the analytics app; each sub-domain registers its pages in its own module."""

from . import (  # noqa: F401 - imported for their registrations
    admin_fleet,
    admin_households,
    admin_sequences,
)
