"""The users JSON API: JWT login, refresh and verify (`jwt.py`, `views.py`), the caller's own
account (`me`), and the OpenAPI extensions of the JWT classes (`schema.py`)."""
