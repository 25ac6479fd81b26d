"""End-to-end tests: real HTTP through a real web server to the sensor endpoints."""
