"""Errors of reports that cross the service/task boundary (importable without the services)."""

from __future__ import annotations


class ReportMailError(Exception):
    """Sending a report mail failed in the transport; the failure is recorded on the report and
    the mail task retries it."""
