"""Each test run's databases are copies of one migrated template, not migrated one by one.

Migrating an empty database through every migration (with its SQL functions and triggers)
took 12 to 35 s, paid by each xdist worker and again by `make test`'s serial pass, and by every
`pytest` run a developer starts. The first run that needs it migrates as before and keeps a
copy, `opscore_test_template_<fingerprint>`, on the embedded server; later ones (the other
workers, the serial pass, the next run) clone it with `CREATE DATABASE … TEMPLATE`, a file copy.

The fingerprint covers everything a migration can read: the project's apps' Python and SQL,
the test clock installed before migrating, and every installed distribution's version; any
change there builds a new template (and drops the old ones). One advisory lock on the server
serialises building and cloning, so a worker never clones a half-built template. A database
named by DATABASE_URL (someone else's server) keeps Django's own creation: the template would
outlive the run there.
"""

import hashlib
import importlib.metadata
import os
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django.db.backends.postgresql.creation import DatabaseCreation

PREFIX = "opscore_test_template_"
LOCK = "opscore test template"
ROOT = Path(__file__).resolve().parent.parent
_original = DatabaseCreation.create_test_db


def fingerprint() -> str:
    digest = hashlib.sha256()
    sources = [Path(__file__).parent / "clock.py"]
    for config in apps.get_app_configs():
        path = Path(config.path)
        if path.is_relative_to(ROOT) and not path.is_relative_to(ROOT / ".venv"):
            sources += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".sql"))
    for source in sorted(set(sources)):
        digest.update(str(source.relative_to(ROOT)).encode() + b"\0" + source.read_bytes())
    versions = sorted(f"{d.name}=={d.version}" for d in importlib.metadata.distributions())
    digest.update("\n".join(versions).encode())
    return digest.hexdigest()[:16]


def create_from_template(self, verbosity=1, autoclobber=False, serialize=True, keepdb=False):
    """DatabaseCreation.create_test_db, with the migrations replaced by a clone when a
    template of this code exists (and one kept when it did not)."""
    if keepdb or os.environ.get("DATABASE_URL"):
        return _original(self, verbosity, autoclobber, serialize, keepdb)
    name, template = self._get_test_db_name(), PREFIX + fingerprint()
    quote = self.connection.ops.quote_name
    with self._nodb_cursor() as server:
        # Another worker may be building it: wait as long as that takes, past the
        # connection's own lock_timeout (the short commands' deadline).
        server.execute("SET lock_timeout = 0")
        server.execute("SET statement_timeout = 0")
        server.execute("SELECT pg_advisory_lock(hashtext(%s))", [LOCK])
        server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
        if server.fetchone() is None:
            _original(self, verbosity, autoclobber, serialize, keepdb)
            self.connection.close()
            keep_template(server, name, template, quote)
            return name
        server.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
        server.execute(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(template)}")
        copy_database_settings(server, template, name, quote)
    use_database(self, name, serialize)
    return name


def keep_template(server, name: str, template: str, quote) -> None:
    """The migrated database copied as this fingerprint's template; older ones dropped."""
    server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [PREFIX + "%"])
    for (old,) in server.fetchall():
        server.execute(f"DROP DATABASE IF EXISTS {quote(old)} WITH (FORCE)")
    server.execute(f"CREATE DATABASE {quote(template)} TEMPLATE {quote(name)}")
    copy_database_settings(server, name, template, quote)


def copy_database_settings(server, source: str, target: str, quote) -> None:
    """`ALTER DATABASE … SET` (the test clock's search_path) stays with its database: a copy
    made with TEMPLATE has none of it."""
    server.execute(
        "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d"
        " ON d.oid = s.setdatabase WHERE d.datname = %s AND s.setrole = 0",
        [source],
    )
    for (setting,) in server.fetchall():
        key, value = setting.split("=", 1)
        if key != "search_path":  # a list, stored as its elements already quoted
            value = "'" + value.replace("'", "''") + "'"
        server.execute(f"ALTER DATABASE {quote(target)} SET {key} = {value}")


def use_database(self, name: str, serialize: bool) -> None:
    """What create_test_db does once its database is migrated: point the connection at it,
    and run what follows every migrate. The post-migrate steps write this run's settings into
    the database (the spend day's OPS_TIME_ZONE, OPS_WORKER_STALE_SECONDS); a clone carried the
    ones of the run that built the template, so a run in another zone counted UTC's day, and
    one run with OPS_TIME_ZONE set left its zone to every later run."""
    from django.conf import settings
    from django.core.management.sql import emit_post_migrate_signal

    self.connection.close()
    settings.DATABASES[self.connection.alias]["NAME"] = name
    self.connection.settings_dict["NAME"] = name
    emit_post_migrate_signal(verbosity=0, interactive=False, db=self.connection.alias)
    if serialize:
        self.connection._test_serialized_contents = self.serialize_db_to_string()
    call_command("createcachetable", database=self.connection.alias)
    self.connection.ensure_connection()


def install() -> None:
    DatabaseCreation.create_test_db = create_from_template
