from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log (reference `logs`, §8.10): what happened, never secrets."""

    name = "energyleaf.audit"
    label = "audit"
    verbose_name = "Audit log"
