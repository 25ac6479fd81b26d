"""Benchmarks of Energyleaf (see bench/README.md); figures are printed, never asserted in tests."""
