"""The ASGI server runs each request's sync code on a fresh thread, so it pools its database
connections unless told not to (DB_POOL=false); other processes keep a connection a thread."""

import json
import os
import subprocess
import sys
from pathlib import Path

from opscore import serving
from opscore import settings as opscore_settings

ROOT = Path(__file__).resolve().parent.parent.parent
SHOW_POOL = (
    "import json, console.asgi; from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default']['OPTIONS'].get('pool')))"
)


def served_pool(**env) -> dict | None:
    """The pool option of a process that loads the ASGI application, as the server does."""
    environ = {k: v for k, v in os.environ.items() if k != "DB_POOL"} | env
    done = subprocess.run(
        [sys.executable, "-c", SHOW_POOL],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_asgi_server_pools_its_connections_by_default():
    assert served_pool()["max_size"] == 10


def test_db_pool_false_turns_the_servers_pool_off():
    assert served_pool(DB_POOL="false") is None


def test_a_pooled_connection_is_checked_before_use(monkeypatch):
    monkeypatch.setattr(serving, "ASGI", True)
    monkeypatch.delenv("DB_POOL", raising=False)
    config = opscore_settings._database()
    assert config["CONN_HEALTH_CHECKS"] and config["CONN_MAX_AGE"] == 0


def test_other_processes_do_not_pool_unless_asked(monkeypatch):
    monkeypatch.setattr(serving, "ASGI", False)
    monkeypatch.delenv("DB_POOL", raising=False)
    assert "pool" not in opscore_settings._database()["OPTIONS"]
    monkeypatch.setenv("DB_POOL", "true")
    assert opscore_settings._database()["OPTIONS"]["pool"]
