"""Writes of the analytics app, one module per sub-domain (detection, devices, rollups)."""
