"""An agent-bus call over the agent API (HTTP, the real ASGI server) beside the same call through
the CLI (`manage.py agentbus`, a process per call, as an outside runtime without the API pays).

    .venv/bin/python bench/agent_api.py [--calls 300] [--cli-calls 10]

Prints p50 / p95 for an empty claim-jobs, and for claim-jobs and complete-job on a ready job,
beside the server's own floor (a request refused before any database work), the same claim
in-process (the view without the server) and the CLI's claim-jobs (issue 32's target: HTTP API
p95 <= 20 ms). The server runs as served, with its connection pool (DB_POOL's default under
ASGI); `--no-pool` runs it with DB_POOL=false, a database connection per request.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, percentiles, setup_bench_database

AGENT = "bench-runtime"


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def http_calls(base: str, secret: str, calls: int) -> dict:
    import httpx

    from opscore.models import Agent
    from tests.factories import make_step

    headers = {"Authorization": f"Bearer {secret}"}
    empty, claims, completes, bare = [], [], [], []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        post = client.post
        for _ in range(20):  # warm the server's connection and the prepared claim
            post("/api/agent/claim-jobs", json={})
        for _ in range(calls):  # the server's own floor: refused before any database work
            bare.append(timed(lambda: client.get("/api/agent/claim-jobs"))[0])
        for _ in range(calls):
            empty.append(timed(lambda: post("/api/agent/claim-jobs", json={}))[0])
        agent = Agent.objects.get(slug=AGENT)
        for _ in range(calls):
            make_step("noop", agent=agent)
            ms, response = timed(lambda: post("/api/agent/claim-jobs", json={}))
            job = response.json()["jobs"][0]
            claims.append(ms)
            lease = {"job_id": job["id"], "lease_token": job["lease_token"]}
            ms, done = timed(lambda lease=lease: post("/api/agent/complete-job", json=lease))
            assert done.status_code == 200, done.text
            completes.append(ms)
    return {
        "no-DB floor": bare,
        "empty claim": empty,
        "claim a job": claims,
        "complete it": completes,
    }


def in_process_calls(secret: str, calls: int) -> list[float]:
    """The same empty claim through Django's test client: the view's time without the server."""
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    post = client.post
    return [
        timed(lambda: post("/api/agent/claim-jobs", {}, content_type="application/json"))[0]
        for _ in range(calls)
    ]


def cli_calls(calls: int) -> list[float]:
    command = [sys.executable, "manage.py", "agentbus", "claim-jobs"]
    command += ["--lease-owner", "bench", "--target-agent", AGENT]
    root = Path(__file__).resolve().parent.parent
    return [
        timed(lambda: subprocess.run(command, cwd=root, check=True, capture_output=True))[0]
        for _ in range(calls)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--cli-calls", type=int, default=10)
    parser.add_argument("--no-pool", action="store_true", help="the server with DB_POOL=false")
    args = parser.parse_args()
    setup_bench_database("opscore_bench_agent_api")
    django_ready(migrate=True)
    from django.conf import settings

    from console.models import AgentToken
    from opscore.models import Runtime
    from tests.factories import AgentFactory
    from tests.processes import spawn_web

    agent = AgentFactory(slug=AGENT, runtime=Runtime.EXTERNAL, max_concurrent_steps=1000)
    secret = AgentToken.issue(agent, "bench", actor="bench")[1]
    env = os.environ | {"SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING"}
    env |= {"OPS_AGENT_API_RATE_PER_MINUTE": "1000000"}
    env |= {"DB_POOL": "false"} if args.no_pool else {}
    server, base = spawn_web(env)
    try:
        results = http_calls(base, secret, args.calls)
    finally:
        server.terminate()
        server.wait(timeout=10)
    settings.OPS_AGENT_API_RATE_PER_MINUTE = 10**6
    results["in-process claim"] = in_process_calls(secret, args.calls)
    results["CLI claim-jobs"] = cli_calls(args.cli_calls)
    pool = "false" if args.no_pool else os.environ.get("DB_POOL") or "the served default, on"
    print(f"Agent-bus calls (ms): HTTP over one keep-alive connection to uvicorn (DB_POOL {pool});")
    print(f"in-process = the view through Django's test client; {args.calls} calls each:")
    for name, values in results.items():
        cut = percentiles(values)
        print(f"  {name:>15}  p50 {cut['p50']:8.1f}  p95 {cut['p95']:8.1f}  (n={cut['n']})")
    http = ("empty claim", "claim a job", "complete it")
    worst = max(percentiles(results[k])["p95"] for k in http)
    cli = percentiles(results["CLI claim-jobs"])["p50"]
    print(f"  HTTP p95 worst {worst:.1f} ms (target <= 20 ms); CLI p50 / HTTP p50 ", end="")
    print(f"{cli / percentiles(results['empty claim'])['p50']:.0f}x")


if __name__ == "__main__":
    main()
