"""Opscore does its normal work as a role of its own, not as the database's superuser (issue 26):
that role owns the app's tables and functions, and cannot create roles, read password hashes or
run programs on the server. The superuser only bootstraps (the `vector` extension) and restores."""

import os
import secrets

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from opscore import db_roles, embedded_db
from opscore.checks import check_app_role
from opscore.localenv import DATA_DIR

# Not the app's real role (the developer's running server keeps it), and one a test worker:
# roles belong to the whole server, and another worker's test would change its password.
ROLE = "opscore_app_test" + os.environ.get("PYTEST_XDIST_WORKER", "")
pytestmark = pytest.mark.django_db(transaction=True)


def connect_as(user: str, password: str, dbname: str | None = None) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "localhost",
        port=db["PORT"] or 5432,
        user=user,
        password=password,
        dbname=dbname or db["NAME"],
        autocommit=True,
    )


@pytest.fixture
def app_role():
    password = secrets.token_urlsafe(24)
    db = connection.settings_dict
    with connect_as(db["USER"], db["PASSWORD"]) as admin:
        db_roles.bootstrap(admin, ROLE, password)
    with connect_as(ROLE, password) as app:
        yield app
    with connect_as(db["USER"], db["PASSWORD"]) as admin:
        back = sql.SQL("REASSIGN OWNED BY {} TO {}")  # the test database as it was
        admin.execute(back.format(sql.Identifier(ROLE), sql.Identifier(db["USER"])))


def refused(app: psycopg.Connection, statement: str) -> bool:
    try:
        app.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_the_app_role_owns_every_app_table_and_function(app_role):
    assert not db_roles.is_superuser(app_role)
    foreign = app_role.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> %s",
        [ROLE],
    ).fetchone()[0]
    assert foreign == 0
    claimed = app_role.execute(
        "SELECT count(*) FROM opscore_claim_step('w:1', 60, ARRAY[]::text[])"
    ).fetchone()[0]
    assert claimed == 0  # nothing queued; the call itself is the app's to make
    app_role.execute("CREATE TABLE public.app_role_probe (id int)")  # migrations can run
    app_role.execute("DROP TABLE public.app_role_probe")


def test_the_app_role_cannot_administer_the_server(app_role):
    assert refused(app_role, "CREATE ROLE intruder SUPERUSER")
    assert refused(app_role, "SELECT rolpassword FROM pg_authid")
    assert refused(app_role, "COPY (SELECT 1) TO PROGRAM 'true'")
    assert refused(app_role, "ALTER SYSTEM SET log_statement = 'none'")
    assert refused(app_role, f"ALTER ROLE {ROLE} SUPERUSER")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute("CREATE DATABASE intruder")


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the embedded server only")
def test_the_embedded_server_gives_the_app_its_own_role():
    admin = embedded_db.ensure_running(DATA_DIR / "pg")
    app = embedded_db.app_settings(DATA_DIR / "pg", admin)
    assert app["USER"] == db_roles.APP_ROLE != admin["USER"]
    with connect_as(app["USER"], app["PASSWORD"], app["NAME"]) as conn:
        assert not db_roles.is_superuser(conn)
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        assert owner == db_roles.APP_ROLE
        assert refused(conn, "SELECT rolpassword FROM pg_authid")


def test_a_superuser_connection_is_a_system_check_warning(settings):
    if not db_roles.is_superuser(connection):
        pytest.skip("this test database's role is not a superuser: nothing to warn about")
    settings.TESTING = False  # the test runner itself connects as the superuser on purpose
    [warning] = check_app_role(None)
    assert warning.id == "opscore.W020" and "a superuser" in warning.msg


def test_processes_starting_together_bootstrap_the_role_one_at_a_time(app_role):
    """A first `make run` starts web, workers, deliverer and cluster at once; each bootstraps
    the role. Without taking turns, concurrent ALTER ROLEs fail ("tuple concurrently
    updated") and a process dies with a traceback."""
    from concurrent.futures import ThreadPoolExecutor

    db = connection.settings_dict
    password = secrets.token_urlsafe(24)

    def start_one(_):
        with connect_as(db["USER"], db["PASSWORD"]) as admin:
            for _ in range(5):
                db_roles.bootstrap(admin, ROLE, password)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(start_one, range(6)))  # re-raises any process's failure

    with connect_as(ROLE, password) as app:
        assert app.execute("SELECT current_user").fetchone()[0] == ROLE


def test_the_role_password_never_reaches_the_server_as_written(tmp_path):
    """The server keeps a statement's text where others read it (the log with log_statement =
    'ddl', a failed statement's STATEMENT line, pg_stat_activity): the role's password goes as
    the SCRAM verifier libpq computes, as psql's \\password sends it. libpq's own trace of
    the wire shows what the server was sent."""
    password, db = secrets.token_urlsafe(24), connection.settings_dict
    wire = tmp_path / "wire"
    with connect_as(db["USER"], db["PASSWORD"]) as admin, wire.open("w") as trace:
        admin.pgconn.trace(trace.fileno())
        db_roles.ensure_role(admin, ROLE, password)
        admin.pgconn.untrace()

    assert "PASSWORD" in wire.read_text() and password not in wire.read_text()
    with connect_as(ROLE, password) as app:
        assert app.execute("SELECT current_user").fetchone() == (ROLE,)
