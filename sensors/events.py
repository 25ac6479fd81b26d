"""Signals the sensors app sends for the apps above it (analytics keeps its rollups in step)."""

from __future__ import annotations

from django.dispatch import Signal

assignment_changed = Signal()
"""Sent inside the transaction that changed a sensor's assignment periods at `at` (arguments:
`sensor_id`, `at`). Readings stamped from `at` on (at most an hour ahead of the server's clock)
now belong to another household or to none."""
