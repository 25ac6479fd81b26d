"""Helpers for tests that start real processes (gunicorn, Celery) on the test database."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote


def database_url_for(settings_dict: dict[str, Any]) -> str | None:
    """A DATABASE_URL (django-environ form) for the database of `settings_dict`, so a child
    process opens the very database the test uses; None when that is not possible (an
    in-memory SQLite database, an engine not handled here)."""
    engine, name = settings_dict["ENGINE"], str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        path = Path(name)
        return f"sqlite:///{path}" if path.is_absolute() and path.exists() else None
    if engine == "django.db.backends.postgresql":
        user = quote(str(settings_dict.get("USER") or ""), safe="")
        password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(settings_dict.get("HOST") or "")
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{credentials}{host}{port}/{quote(name, safe='')}"
    return None
