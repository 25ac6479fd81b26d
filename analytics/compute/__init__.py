"""Pure numeric analytics: numpy arrays in, dataclasses out, no Django imports.

Every time in this package is UTC: datetimes are timezone-aware UTC, arrays hold UTC instants.
"""
