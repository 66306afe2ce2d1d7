"""A transactional test's teardown empties the tables by DELETE, not TRUNCATE.

Django's TransactionTestCase flushes after each test with one `TRUNCATE` of all 71 tables, then
runs post_migrate, which writes every content type and permission back. PostgreSQL gives each
truncated table, index and TOAST table a new file and drops the old ones' pages from shared
buffers, whatever the tables hold; a test's tables hold a few rows, and deleting them costs a
few milliseconds. Content types and permissions are left in place (post_migrate would write
the same rows again; no test makes its own). Measured on the 101 lighter transactional tests,
one process: 96 to 97 s → 68 to 77 s, about a quarter of a second a test, of 400-odd in the suite.

The DELETEs run in the flush's own transaction with `session_replication_role = replica`, so, as
under TRUNCATE, no row trigger fires (the append-only guards, the spend ledger's) and no foreign
key is checked row by row. That setting needs a superuser, which the embedded test server's
connection is; on any other database (`DATABASE_URL` as a plain role) Django's TRUNCATE stays.

The one other thing a migration leaves in the tables, coding's approver groups and their
permissions, is written back by the same flush: without them, a test of four eyes passed or
failed by whether a transactional test had run before it on its worker.
"""

import importlib

from django.db.backends.postgresql.operations import DatabaseOperations

_truncating_sql_flush = DatabaseOperations.sql_flush
KEPT = frozenset({"django_content_type", "auth_permission"})


def is_superuser(connection) -> bool:
    if not hasattr(connection, "_flush_as_superuser"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            connection._flush_as_superuser = bool(cursor.fetchone()[0])
    return connection._flush_as_superuser


def deleting_sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or not tables or not is_superuser(self.connection):
        return _truncating_sql_flush(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    deletes = [f"DELETE FROM {self.quote_name(table)}" for table in tables if table not in KEPT]
    return [
        "SET LOCAL session_replication_role = replica",
        *deletes,
        "SET LOCAL session_replication_role = origin",
        *(seeded_groups() if "auth_group" in tables else []),
    ]


def seeded_groups() -> list[str]:
    """The approver groups as coding's migration makes them (content types and permissions
    are never deleted, so their ids still stand)."""
    groups = importlib.import_module("coding.migrations.0004_approver_groups").GROUPS
    rows = [
        f"('{group}', '{perm.split('.')[0]}', '{perm.split('.')[1]}')"
        for group, perms in groups.items()
        for perm in perms
    ]
    names = ", ".join(f"('{group}')" for group in groups)
    return [
        f"INSERT INTO auth_group (name) VALUES {names}",
        "INSERT INTO auth_group_permissions (group_id, permission_id)"
        " SELECT g.id, p.id FROM auth_group g, auth_permission p"
        " JOIN django_content_type t ON t.id = p.content_type_id"
        f" WHERE (g.name, t.app_label, p.codename) IN ({', '.join(rows)})",
    ]


def install() -> None:
    DatabaseOperations.sql_flush = deleting_sql_flush


def uninstall() -> None:
    DatabaseOperations.sql_flush = _truncating_sql_flush
