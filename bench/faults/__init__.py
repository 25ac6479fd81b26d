"""End-to-end fault suite: real processes on loopback, faults injected, every reading accounted.

See `bench/faults/run.py` for the command line and the scenarios.
"""
