"""The reports HTTP interface: the JSON API of reports and report settings (`views.py`), and the
unsubscribe page a mail links to (`pages.py`); the routes of both in `urls.py`."""
