"""Views of the analytics API, one module per resource (aggregates, devices and peaks, cron, ml)."""
