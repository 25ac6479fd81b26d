"""Views of the analytics API, one module per resource (aggregates, devices and peaks, live: the
household's live figure and sensor health, cron, ml)."""
