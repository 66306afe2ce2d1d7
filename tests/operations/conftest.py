"""A scratch database to restore into, and a way to run the app against it."""

from contextlib import contextmanager

import pytest
from django.db import connection

from operations.backups import connect


@pytest.fixture
def scratch(transactional_db):
    """A database to restore into, one per test database (an xdist worker's own): a fixed
    name was shared by the workers, so two restore tests at once dropped each other's."""
    name = f"{connection.settings_dict['NAME'][:40]}_restore"
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def working_on(database: str):
    """The app's own connection on `database`, as a command run on that host would have it."""
    ours = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = database
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = ours
