"""Real worker processes for tests that kill, stop and restart things."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database, as a URL a child process can use."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "localhost", safe="")
    auth = db["USER"] + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def spawn_worker(
    worker_id: str, seconds: float = 30, lease: int = 2, until_idle: bool = False, **env
) -> subprocess.Popen:
    child_env = child_environment(lease, **env)
    command = [
        sys.executable,
        "manage.py",
        "work",
        "--seconds",
        str(seconds),
        "--worker-id",
        worker_id,
        "--idle-poll",
        "0.5",
    ] + (["--until-idle"] if until_idle else [])
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def child_environment(lease: int, **env) -> dict:
    return os.environ | {
        "DATABASE_URL": database_url(),
        "OPS_EXECUTOR_MODULES": "tests.executors",
        "OPS_LEASE_SECONDS": str(lease),
        "OPS_RETRY_BASE_SECONDS": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # django-q2 signs queued tasks with it
        "LOG_LEVEL": "WARNING",
        **{k: str(v) for k, v in env.items()},
    }


def spawn_supervisor(lease: int = 2, log=None, **env) -> subprocess.Popen:
    """`manage.py supervise` on the test database: a worker per slot and a django-q2 cluster."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "supervise"],
        cwd=ROOT,
        env=child_environment(lease, **env),
        stdout=log or subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and everything below it at once, as when its machine dies."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def children_of(pid: int) -> set[int]:
    return {child for child, parent in parents().items() if parent == pid}


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (a cluster's sentinel and its worker processes)."""
    parents_of = parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents_of.items() if parent in frontier}
        found |= frontier
    return found


def report_of(process: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out)


def wait_for(predicate, timeout: float = 30, interval: float = 0.05):
    """Poll a condition (reading the database) until it holds; fail loudly if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection.close()  # a fresh snapshot, and survive a server restart
        try:
            value = predicate()
        except Exception:  # the database may be restarting
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn_web(env: dict, timeout: float = 30, serve_as=None) -> tuple[subprocess.Popen, str]:
    """`uvicorn console.asgi:application` on a free port, once it answers; (process, base URL).
    `serve_as(port)`: another command line for it (`make run`'s own)."""
    import httpx

    port = free_port()
    command = (
        serve_as(port)
        if serve_as
        else [
            sys.executable,
            "-m",
            "uvicorn",
            "console.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    )
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/ops/status", timeout=1).status_code == 200:
                return process, base
        time.sleep(0.2)
    process.kill()
    raise AssertionError(process.stderr.read().decode()[-2000:])


def task_behind_gate(started: str, gate: str) -> str:
    """A django-q2 task that says it started, then runs until the test opens its gate."""
    Path(started).touch()
    while not Path(gate).exists():
        time.sleep(0.05)
    return "finished"


def sessions_waiting_on_a_lock(query_part: str = "") -> int:
    """Sessions of the test database waiting for a lock, whose statement holds `query_part`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND strpos(query, %s) > 0",
            [query_part],
        )
        return cursor.fetchone()[0]


def terminate_other_sessions() -> int:
    """What a Postgres restart does to every client: its session ends under it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
