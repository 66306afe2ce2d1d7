"""The embedded PostgreSQL default: a real server from `pgserver`, data under .data/pg.

It listens on a Unix socket only and outlives the process that started it, so the web server,
the workers and the CLI all share one database. `python -m opscore.embedded_db stop` stops it.

Every connection needs the password (scram-sha-256), even on the socket: anything else on the
machine that reaches the socket (an agent's harness, another user) must not get a superuser.
pgserver initialises its data dir trusting local connections, so the first start sets the
password while still trusted, then rewrites pg_hba.conf and reloads; a data dir an older Opscore
left trusting is migrated the same way. The password is generated once into .data/secrets.env.

The superuser only bootstraps: each start makes sure the app's own role (opscore.db_roles, not a
superuser) exists and owns the database and its objects; Opscore then works as that role
(`app_settings`), and keeps the superuser's settings for restores (settings.OPS_DATABASE_ADMIN).
"""

import sys
import time
import warnings
from pathlib import Path

from opscore import db_roles

# pgserver asks platformdirs for a runtime dir, which warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

DATABASE_NAME = "opscore"
SUPERUSER = "postgres"
PASSWORD_NAME = "OPS_EMBEDDED_PG_PASSWORD"
APP_PASSWORD_NAME = "OPS_EMBEDDED_APP_PASSWORD"
METHOD = "scram-sha-256"
HBA = f"""# Written by opscore.embedded_db: every role, every connection needs its password.
local   all             all                                     {METHOD}
host    all             all             127.0.0.1/32            {METHOD}
host    all             all             ::1/128                 {METHOD}
local   replication     all                                     {METHOD}
host    replication     all             127.0.0.1/32            {METHOD}
host    replication     all             ::1/128                 {METHOD}
"""
started_here: Path | None = None  # set when this process had to start the server


def _server(data_dir: Path):
    import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir, cleanup_mode=None)


def ensure_running(data_dir: Path) -> dict:
    """Start the server if needed, bootstrap the app's role, and return the superuser's Django
    connection settings (the app's own: `app_settings`). Once per process and data dir."""
    if data_dir not in _ready:
        _ready[data_dir] = _start(data_dir)
    return dict(_ready[data_dir])


_ready: dict[Path, dict] = {}


def _start(data_dir: Path) -> dict:
    global started_here
    if not is_running(data_dir):
        started_here = data_dir
    server = _server(data_dir)
    info = server.get_postmaster_info()
    password = server_password(data_dir)
    _ensure_database(str(info.socket_dir), info.port, password)
    admin = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": SUPERUSER,
        "PASSWORD": password,
        "HOST": str(info.socket_dir),
        "PORT": str(info.port),
    }
    _bootstrap_app_role(admin, app_password(data_dir))
    return admin


def app_settings(data_dir: Path, admin: dict) -> dict:
    """The same database as the app's own role (opscore.db_roles): what the web, the workers
    and the CLI connect as."""
    return {**admin, "USER": db_roles.APP_ROLE, "PASSWORD": app_password(data_dir)}


def app_password(data_dir: Path) -> str:
    from opscore.localenv import ensure_generated

    secrets = data_dir.parent / "secrets.env"
    return ensure_generated((APP_PASSWORD_NAME,), secrets)[APP_PASSWORD_NAME]


def _bootstrap_app_role(admin: dict, password: str) -> None:
    import psycopg

    params = {"host": admin["HOST"], "port": admin["PORT"], "user": admin["USER"]}
    with psycopg.connect(**params, password=admin["PASSWORD"], dbname=DATABASE_NAME) as conn:
        conn.autocommit = True
        db_roles.bootstrap(conn, db_roles.APP_ROLE, password)


def server_password(data_dir: Path) -> str:
    """The superuser's password, kept in the secrets file beside the data dir (mode 600)."""
    from opscore.localenv import ensure_generated

    return ensure_generated((PASSWORD_NAME,), data_dir.parent / "secrets.env")[PASSWORD_NAME]


def _ensure_database(host: str, port: int, password: str) -> None:
    import psycopg

    try:
        conn = psycopg.connect(
            host=host, port=port, user=SUPERUSER, password=password, dbname="postgres"
        )
    except psycopg.OperationalError as failure:
        raise RuntimeError(
            f"the embedded PostgreSQL in {host} refused {PASSWORD_NAME} from .data/secrets.env"
            f" ({' '.join(str(failure).split())})"
        ) from None
    with conn:
        conn.autocommit = True
        _require_password(conn, password)
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _require_password(conn, password: str) -> None:
    """Set the password, then make pg_hba.conf demand it (a password is ignored under trust, so
    the connection that gets here may be a trusted one: this is the migration)."""
    from psycopg import sql

    loose = conn.execute(
        "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method IS DISTINCT FROM %s", [METHOD]
    ).fetchone()[0]
    if not loose:
        return
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(SUPERUSER), db_roles.scram_verifier(conn, SUPERUSER, password)
        )
    )
    hba_file = conn.execute("SHOW hba_file").fetchone()[0]
    with open(hba_file, "w") as handle:  # in place: the server's user keeps owning it
        handle.write(HBA)
    loaded = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
    conn.execute("SELECT pg_reload_conf()")
    _await_reload(conn.info.get_parameters(), password, loaded)


def _await_reload(params: dict, password: str, before) -> None:
    """pg_reload_conf() only signals the postmaster: wait until a new connection is born after
    the reload, so nobody is let in under the old rules once this returns."""
    import psycopg

    for _ in range(200):
        with psycopg.connect(**params, password=password) as probe:
            if probe.execute("SELECT pg_conf_load_time()").fetchone()[0] > before:
                return
        time.sleep(0.05)
    raise RuntimeError("the embedded PostgreSQL did not reload pg_hba.conf within 10 s")


def is_running(data_dir: Path) -> bool:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    return info is not None and info.is_running()


def stop_if_started_here() -> None:
    """Test runs stop the server they started, and leave a developer's running one alone."""
    if started_here is not None and is_running(started_here):
        stop(started_here)


def stop(data_dir: Path) -> None:
    from pgserver._commands import pg_ctl

    if not (data_dir / "postmaster.pid").exists():
        print("embedded PostgreSQL is not running")
        return
    server = _server(data_dir)
    pg_ctl(["-w", "stop"], pgdata=data_dir, user=server.system_user)
    print("embedded PostgreSQL stopped")


if __name__ == "__main__":
    from opscore.localenv import DATA_DIR

    if sys.argv[1:] == ["stop"]:
        stop(DATA_DIR / "pg")
    else:
        settings = ensure_running(DATA_DIR / "pg")
        print({**settings, "PASSWORD": f"(in {DATA_DIR / 'secrets.env'}: {PASSWORD_NAME})"})


def client_bin_dir() -> Path:
    """The embedded server ships its own pg_dump and pg_restore, matching its version."""
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"
