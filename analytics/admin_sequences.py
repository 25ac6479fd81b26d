"""Admin pages of sequences, devices and suggestions."""
