from django.apps import AppConfig


class LegacyConfig(AppConfig):
    """The import from the old platform (docs/operations.md, "Import from the old platform").
    Its tables remember which old row became which new one, so a second run changes nothing and
    a run cut off half-way continues."""

    name = "energyleaf.legacy"
    label = "legacy"
    verbose_name = "Import from the old platform"
