"""Signals of the users app, for the apps above it (sensors, analytics) to act on."""

from __future__ import annotations

from django.dispatch import Signal

household_deleting = Signal()
"""Sent inside the transaction that deletes a household user, before the user row is deleted.

Arguments: `user` (the User) and `keep_readings` (bool). With `keep_readings` the readings of
its assignment periods stay for the study (the periods keep its `household_key`, so datasets
label them with the same pseudonym); without, the receivers delete them and everything derived
from them."""
