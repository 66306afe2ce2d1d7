"""Shared plumbing for benchmarks: a throwaway database on the same server, child processes
started together, percentiles. Benchmarks print ratios against a baseline run in the same run."""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_bench_database(name: str) -> str:
    """Create (afresh) database `name` beside the configured one and point Django at it."""
    if os.environ.get("OPSCORE_BENCH_CHILD"):
        return os.environ["DATABASE_URL"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import psycopg

    if os.environ.get("DATABASE_URL"):
        import dj_database_url

        base = dj_database_url.parse(os.environ["DATABASE_URL"])
    else:
        from opscore.embedded_db import ensure_running
        from opscore.localenv import DATA_DIR

        base = ensure_running(DATA_DIR / "pg")
    with psycopg.connect(
        host=base["HOST"],
        port=base["PORT"] or 5432,
        user=base["USER"],
        password=base["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    host = quote(base["HOST"] or "localhost", safe="")
    auth = base["USER"] + (f":{quote(base['PASSWORD'], safe='')}" if base["PASSWORD"] else "")
    url = f"postgres://{auth}@{host}:{base['PORT'] or 5432}/{name}"
    os.environ["DATABASE_URL"] = url
    return url


def django_ready(migrate: bool = False) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def start_children(script: str, role: str, count: int, *args) -> list[subprocess.Popen]:
    """`count` children of `script` playing `role`, each as Opscore's worker command is started
    (`opscore work`: its connections run without the short commands' database deadlines)."""
    env = os.environ | {"OPSCORE_BENCH_CHILD": "1", "OPSCORE_COMMAND": "work"}
    children = [
        subprocess.Popen(
            [sys.executable, script, "--child", role, "--index", str(i), *map(str, args)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for child in children:
        assert child.stdout.readline().strip() == "ready", f"{role} child did not start"
    return children


def release_and_collect(children) -> list[dict]:
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [json.loads(child.stdout.readline()) for child in children]
    for child in children:
        child.wait(timeout=60)
    return results


def child_handshake() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def report(result: dict) -> None:
    print(json.dumps(result), flush=True)


def percentiles(values_ms: list[float]) -> dict:
    ordered = sorted(values_ms)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"n": len(ordered), "p50": cut[49], "p95": cut[94], "p99": cut[98]}


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
