"""Shared base code: abstract models, exceptions, API error handling, time helpers (no tables)."""
