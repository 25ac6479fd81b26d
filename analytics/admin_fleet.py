"""The fleet-health admin view for researchers."""
