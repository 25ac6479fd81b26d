from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log (the old platform's `logs` table): what happened, never secrets."""

    name = "energyleaf.audit"
    label = "audit"
    verbose_name = "Audit log"
