"""The app's own database role: Opscore's web, workers and CLI do their normal work as a role
that is not a superuser and owns the app's schema objects, so a bug or a stolen connection
cannot create roles, read password hashes (pg_authid), load server-side code or touch other
databases. The superuser is kept for what needs it: creating the server and the database,
the `vector` extension (not a trusted extension), and restores.

`bootstrap()` runs as the superuser and is idempotent: the embedded server runs it on every
start (opscore.embedded_db); on another server an operator runs the same statements once.
"""

import psycopg
from psycopg import sql

APP_ROLE = "opscore_app"
ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS"

# Everything in `public` the superuser owns that is not part of an extension (the vector type
# and its functions stay the superuser's): tables, sequences, views and the app's functions.
HAND_OVER = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN
        SELECT format('ALTER %s %s OWNER TO %I',
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                           WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                      c.oid::regclass, {role}) AS statement
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
          AND pg_get_userbyid(c.relowner) = current_user
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.deptype IN ('a', 'i')))
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, {role})
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = current_user
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE item.statement;
    END LOOP;
END $$
"""


def ensure_role(admin: psycopg.Connection, role: str, password: str) -> None:
    """Create the role, or put it back to what it must be (a password and no privileges)."""
    exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    verb = "ALTER" if exists else "CREATE"
    admin.execute(
        sql.SQL("{} ROLE {} " + ROLE_OPTIONS + " PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), scram_verifier(admin, role, password)
        )
    )


def scram_verifier(conn: psycopg.Connection, role: str, password: str) -> sql.Literal:
    """A role's password as the SCRAM verifier libpq computes here (as psql's \\password
    does), never as written: the server keeps a statement's text where others read it (its
    log under log_statement = 'ddl', a failed statement's STATEMENT line, pg_stat_activity)."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    return sql.Literal(verifier.decode())


def hand_over_database(admin: psycopg.Connection, role: str) -> None:
    """In the app's database, as the superuser: create the extension the app needs, then make
    the role own the database, its `public` schema and every app object in it (a database an
    older Opscore migrated as the superuser is taken over the same way)."""
    available = admin.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    if available:
        admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
    database = admin.execute("SELECT current_database()").fetchone()[0]
    owner = sql.Identifier(role)
    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), owner))
    admin.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
    admin.execute(sql.SQL(HAND_OVER).format(role=sql.Literal(role)))


BOOTSTRAP_LOCK = 0x6F707363  # "opsc": one process at a time alters the role and hands over


def bootstrap(admin: psycopg.Connection, role: str, password: str) -> None:
    """`admin`: a superuser connection (autocommit) to the app's database. On a first start
    every process (web, workers, deliverer, cluster) arrives here at once; two ALTER ROLEs at
    the same moment fail with "tuple concurrently updated", so they take turns."""
    admin.execute("SELECT pg_advisory_lock(%s)", [BOOTSTRAP_LOCK])
    try:
        ensure_role(admin, role, password)
        hand_over_database(admin, role)
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", [BOOTSTRAP_LOCK])


def is_superuser(conn) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])
