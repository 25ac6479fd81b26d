"""Simulated households built from antgen appliance models (training and benchmark data).

Pure Python and numpy: no Django imports.
"""
