from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """CSV exports for households and researchers, and research dataset export jobs."""

    name = "exports"

    def ready(self) -> None:
        # The admin autodiscovery (django.contrib.admin is installed first) has registered every
        # ModelAdmin by now; the export actions are appended to the users app's admins here.
        from django.contrib import admin

        from .admin import admin_actions_attach

        admin_actions_attach(admin.site)
