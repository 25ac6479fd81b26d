"""The analytics JSON API: `urls.py` (every route), `views/` and `serializers/` per resource
(aggregates, devices and peaks, the old cron paths, ml)."""
