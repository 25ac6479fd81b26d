"""The import from the old Energyleaf platform (`manage.py import_energyleaf`): households,
sensors, readings, peaks, devices and reports read from the old platform's PostgreSQL and written
through this project's services. The top layer beside the demo: it may use every app, and no app
uses it."""
