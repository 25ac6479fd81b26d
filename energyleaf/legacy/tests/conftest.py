"""Fixtures of the import's tests: an old-platform database beside the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from energyleaf.legacy.tests import oldsource
from energyleaf.tests.helpers import database_url_for


def _old_platform() -> Iterator[str]:
    if connection.vendor != "postgresql":
        pytest.skip("the import copies readings with PostgreSQL's COPY; it needs PostgreSQL")
    server_url = database_url_for(connection.settings_dict)
    assert server_url is not None
    name = f"{connection.settings_dict['NAME']}_oldsrc"
    url = oldsource.database_create(server_url, name)
    oldsource.schema_create(url)
    yield url
    oldsource.database_drop(server_url, name)


@pytest.fixture
def old_platform(db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The URL of a fresh old-platform database (the test database's name + `_oldsrc`, on the
    same server) with its schema and no rows; dropped after the test. PostgreSQL only."""
    yield from _old_platform()


@pytest.fixture
def old_platform_committed(transactional_db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`old_platform` for tests whose import commits (several jobs, each its own connection)."""
    yield from _old_platform()
