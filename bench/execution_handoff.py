"""The handoff half of bench/execution.py: A completes → dependent B starts, through Opscore's
workers (woken by LISTEN/NOTIFY), beside raw LISTEN/NOTIFY and django-q2's own task round trip.
Its children are started through bench/execution.py (its --child roles `worker` and `listen`)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import child_handshake, percentiles, report, start_children

SCRIPT = str(Path(__file__).with_name("execution.py"))


def child_worker(index: int, seconds: float) -> None:
    from missions.worker import WorkerSession

    child_handshake()
    session = WorkerSession(f"handoff-{index}", seconds=seconds, idle_poll=30)
    report(session.run().__dict__)


def child_listen(index: int, count: int) -> None:
    import psycopg
    from django.db import connection

    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k not in ("cursor_factory", "context")
    }
    with (
        psycopg.connect(**params, autocommit=True) as conn,
        psycopg.connect(**params, autocommit=True) as replies,
    ):
        conn.execute("LISTEN bench_ping")
        child_handshake()
        latencies = []
        for _ in range(count):
            for notify in conn.notifies(stop_after=1):
                latencies.append((time.time() - float(notify.payload)) * 1000)
            replies.execute("SELECT pg_notify('bench_pong', '')")
    report({"latencies": latencies})


def handoff_ours(pairs: int) -> dict:
    from opscore.models import Agent

    agent = Agent.objects.get(slug="bench-0")
    workers = start_children(SCRIPT, "worker", 2, pairs * 0.05 + 60)
    b_steps = run_pairs(agent, workers, pairs)
    return percentiles(handoff_latencies(b_steps))


def run_pairs(agent, workers, pairs: int) -> list[int]:
    """Create A→B pairs one at a time, each waiting for B to succeed; returns B's ids."""
    import psycopg
    from django.db import connection, transaction

    from missions.models import Mission, Proposal, Step, StepDependency
    from opscore.db import Channel

    for child in workers:
        child.stdin.write("go\n")
        child.stdin.flush()
    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k not in ("cursor_factory", "context")
    }
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {Channel.EVENTS}")  # B's success writes an event
    seconds_b = []
    for _ in range(pairs):
        with transaction.atomic():
            proposal = Proposal.objects.create(
                agent=agent, title="pair", source="api", status="accepted"
            )
            mission = Mission.objects.create(
                title="pair", agent=agent, created_by="bench", proposal=proposal
            )
            a = Step.objects.create(mission=mission, kind="noop", agent=agent, position=0)
            b = Step.objects.create(mission=mission, kind="noop", agent=agent, position=1)
            StepDependency.objects.create(step=b, depends_on=a)
        while not Step.objects.filter(pk=b.pk, status="succeeded").exists():
            for _notify in listener.notifies(timeout=1.0, stop_after=1):
                break
        seconds_b.append(b.pk)
    for child in workers:
        child.terminate()
        child.wait()
    return seconds_b


def handoff_latencies(b_steps: list[int]) -> list[float]:
    """From A's finish to B's first attempt, by the database clock."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT EXTRACT(EPOCH FROM (att.started_at - a.finished_at)) * 1000
               FROM missions_stepdependency d
               JOIN missions_step a ON a.id = d.depends_on_id
               JOIN missions_stepattempt att ON att.step_id = d.step_id AND att.attempt_no = 1
               WHERE d.step_id = ANY(%s)""",
            [b_steps],
        )
        return [float(row[0]) for row in cursor.fetchall()]


def handoff_raw(count: int) -> dict:
    import psycopg
    from django.db import connection

    child = start_children(SCRIPT, "listen", 1, count)[0]
    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k not in ("cursor_factory", "context")
    }
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute("LISTEN bench_pong")
        child.stdin.write("go\n")
        child.stdin.flush()
        for _ in range(count):
            conn.execute("SELECT pg_notify('bench_ping', %s)", [repr(time.time())])
            for _pong in conn.notifies(timeout=5, stop_after=1):
                break
    result = json.loads(child.stdout.readline())
    child.wait()
    return percentiles(result["latencies"])


def q_probe(enqueued_at: float) -> float:
    """Runs inside django-q2: how long the task waited between enqueue and start."""
    return (time.time() - enqueued_at) * 1000


def handoff_django_q(count: int) -> dict:
    from django_q.tasks import async_task, result

    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=Path(SCRIPT).parent.parent,
        env=os.environ | {"OPS_WORKER_SLOTS": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        latencies = []
        for _ in range(count):
            task_id = async_task("bench.execution_handoff.q_probe", time.time())
            latencies.append(result(task_id, wait=10_000))
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)
    return percentiles([value for value in latencies if value is not None])


def report_handoff(pairs: int) -> None:
    print(f"\nHandoff: A completes → dependent B starts, {pairs} pairs, 2 workers")
    ours = handoff_ours(pairs)
    raw = handoff_raw(pairs)
    q = handoff_django_q(min(50, pairs))
    for label, stats in (("opscore", ours), ("raw NOTIFY", raw), ("django-q2", q)):
        print(
            f"  {label:<11} p50 {stats['p50']:7.2f} ms  p95 {stats['p95']:7.2f} ms  "
            f"p99 {stats['p99']:7.2f} ms  (n={stats['n']})"
        )
    print(
        f"  ratios: opscore p50 / raw p50 = {ours['p50'] / raw['p50']:.1f}; django-q2 p50 / "
        f"opscore p50 = {q['p50'] / max(ours['p50'], 0.001):.0f} (target ≥ 2); targets "
        f"p50 ≤ 25 ms, p99 ≤ 100 ms"
    )
