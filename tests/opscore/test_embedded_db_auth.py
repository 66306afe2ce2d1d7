"""The embedded PostgreSQL lets nobody in without the password (issue 26): not on its socket,
not as postgres, and a data dir an older version left trusting is migrated on its first start."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from opscore import embedded_db
from opscore.localenv import DATA_DIR, ensure_generated

embedded_only = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="checks the embedded server only"
)


def connect(db: dict, password: str | None):
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user="postgres", password=password, dbname="postgres"
    )


@embedded_only
@pytest.mark.django_db
def test_socket_refuses_postgres_without_the_password():
    db = connection.settings_dict
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect(db, None)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(db, "not-the-password")
    with connect(db, db["PASSWORD"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


@embedded_only
@pytest.mark.slow
def test_a_trusting_data_dir_is_migrated_on_first_start():
    import pgserver

    # Under .data/, not /tmp: when tests run as root the server runs as another user, who
    # cannot enter pytest's private tmp directories.
    home = Path(tempfile.mkdtemp(dir=DATA_DIR, prefix="test-pg-"))
    data_dir = home / "pg"
    pgserver.get_server(data_dir, cleanup_mode=None)  # initdb trusts local connections
    try:
        settings = embedded_db.ensure_running(data_dir)
        with pytest.raises(psycopg.OperationalError, match="password"):
            connect(settings, None)
        with connect(settings, settings["PASSWORD"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        again = embedded_db.ensure_running(data_dir)  # a second start changes nothing
        assert again["PASSWORD"] == settings["PASSWORD"]
        assert stat.S_IMODE((home / "secrets.env").stat().st_mode) == 0o600
    finally:
        embedded_db.stop(data_dir)
        shutil.rmtree(home)


def test_generated_secrets_are_added_once_and_kept(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("SECRET_KEY=kept")  # an older file, no trailing newline
    first = ensure_generated(("SECRET_KEY", "OPS_EMBEDDED_PG_PASSWORD"), path)
    assert first["SECRET_KEY"] == "kept"
    assert len(first["OPS_EMBEDDED_PG_PASSWORD"]) > 40
    assert ensure_generated(("OPS_EMBEDDED_PG_PASSWORD",), path) == first
    assert path.read_text().splitlines()[0] == "SECRET_KEY=kept"
