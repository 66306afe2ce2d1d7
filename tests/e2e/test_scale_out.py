"""Scaling out with stock parts: an external PostgreSQL, the Redis channel layer, two web
processes and two supervisors (workers + cluster) on their own slot ranges. Runs against the
loopback PostgreSQL and Redis this machine kind has; skipped, saying why, where they are absent."""

import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from websockets.sync.client import connect as websocket

from tests.processes import ROOT, descendants, kill_tree, spawn_web

pytestmark = pytest.mark.slow
PG = os.environ.get("OPS_TEST_EXTERNAL_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("OPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
NAME = f"opscore_scale_out_test_{os.getpid()}"  # concurrent runs never share it
TOKEN = "scale-out-token-0123456789-0123456789"


def reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@pytest.fixture
def external_db():
    if not reachable("127.0.0.1", 5432) or not reachable("127.0.0.1", 6379):
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
    try:
        admin = psycopg.connect(f"{PG}/postgres", autocommit=True)
    except psycopg.Error as error:
        pytest.skip(f"loopback PostgreSQL refused us: {error}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{NAME}"')
    url = f"{PG}/{NAME}"
    env = os.environ | {
        "DATABASE_URL": url,
        "REDIS_URL": REDIS,
        "OPS_API_TOKEN": TOKEN,
        "SECRET_KEY": "scale-out-test-secret-key-0123456789",
        "STAGE_PUBLIC": "true",
        "LOG_LEVEL": "WARNING",
        "OPS_WORKER_SLOTS": "2",
    }
    for command in (["migrate", "-v0"], ["bootstrap", "--phase", "1"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    yield url, env
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


def start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def web(env: dict) -> tuple[subprocess.Popen, str]:
    process, base = spawn_web(env)
    return process, base.removeprefix("http://")


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def wait_until_both_machines_work(url: str, machines, timeout: float = 60) -> None:
    """Work goes in once a worker of each machine is up, or one machine could take it all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = {pid for (pid,) in rows(url, "SELECT pid FROM missions_worker")}
        if all(live & descendants(machine.pid) for machine in machines):
            return
        time.sleep(0.3)
    raise AssertionError("a machine's workers never came up")


def test_two_webs_and_two_supervisors_share_one_database_and_one_channel_layer(external_db):
    url, env = external_db
    processes = []
    try:
        (web_a, base_a), (web_b, base_b) = web(env), web(env)
        processes += [web_a, web_b]
        with websocket(f"ws://{base_b}/ws/stage/", origin=f"http://{base_b}") as viewer:
            title = "Scale-out check written through web A"
            answer = httpx.post(
                f"http://{base_a}/api/ops/proposals",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={"agent": "devops", "title": title, "steps": [{"kind": "noop"}]},
            )
            assert answer.status_code == 201, answer.text
            seen, deadline = "", time.monotonic() + 20
            while title not in seen and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    seen += viewer.recv(timeout=1)
            assert title in seen, "web B's viewer never saw the event written through web A"
        machines = [
            start(
                [sys.executable, "manage.py", "supervise"],
                env | {"OPS_WORKER_FIRST_SLOT": str(first)},
            )
            for first in (0, 2)
        ]
        processes += machines
        wait_until_both_machines_work(url, machines)
        for agent in ("auditor", "coordinator", "devops", "publisher"):
            steps = [{"kind": "noop"} for _ in range(20)]
            httpx.post(
                f"http://{base_a}/api/ops/proposals",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={"agent": agent, "title": f"batch for {agent}", "steps": steps},
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            left = rows(url, "SELECT count(*) FROM missions_step WHERE status <> 'succeeded'")
            if left[0][0] == 0:
                break
            time.sleep(0.5)
        pids = [descendants(m.pid) for m in machines]
        status = subprocess.run(
            [sys.executable, "manage.py", "status", "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for process in processes:
            kill_tree(process)

    assert left[0][0] == 0, f"{left[0][0]} steps never finished"
    attempts = rows(
        url,
        "SELECT step_id, worker_id, started_at, finished_at FROM "
        "missions_stepattempt ORDER BY step_id, attempt_no",
    )
    for earlier, later in itertools.pairwise(attempts):
        if earlier[0] == later[0]:
            assert earlier[3] <= later[2], f"S{later[0]} ran twice at once"
    ran_in = {int(worker.split(":")[1]) for _, worker, _, _ in attempts}
    assert ran_in & pids[0] and ran_in & pids[1], "both machines ran steps"
    live = json.loads(status.stdout)["workers"]["live"]
    assert len(live) >= 4 and {int(w["pid"]) for w in live} & pids[1]
