"""The embedded PostgreSQL default: a real server from `pgserver`, data under .data/pg.

It listens on a Unix socket only and outlives the process that started it, so the web server,
the workers and the CLI all share one database. `python -m opscore.embedded_db stop` stops it.
"""

import sys
import warnings
from pathlib import Path

# pgserver asks platformdirs for a runtime dir, which warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

DATABASE_NAME = "opscore"
started_here: Path | None = None  # set when this process had to start the server


def _server(data_dir: Path):
    import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir, cleanup_mode=None)


def ensure_running(data_dir: Path) -> dict:
    """Start the server if needed and return Django connection settings for it."""
    global started_here
    if not is_running(data_dir):
        started_here = data_dir
    server = _server(data_dir)
    info = server.get_postmaster_info()
    _ensure_database(str(info.socket_dir), info.port)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port),
    }


def _ensure_database(host: str, port: int) -> None:
    import psycopg

    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


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
        print(ensure_running(DATA_DIR / "pg"))


def client_bin_dir() -> Path:
    """The embedded server ships its own pg_dump and pg_restore, matching its version."""
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"
