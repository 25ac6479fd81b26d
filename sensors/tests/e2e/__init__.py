"""End-to-end tests: real HTTP through a real gunicorn to the sensor endpoints."""
