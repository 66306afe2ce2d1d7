"""The supervisor keeps the system working through the death of any of its processes.

Each round SIGKILLs some process — an idle step worker, a busy one, the django-q2 cluster's idle
workers (the kill that used to wedge the cluster for good), or its workers while one runs a task
— then submits a fresh proposal through the intake and a fresh django-q2 task, and requires both
to run within the stated bound.
"""

import contextlib
import functools
import os
import signal
import time

import pytest
from django.db import connection
from django_q.tasks import async_task, result

from missions.actions import submit_proposal
from missions.models import ProposalSource, Step, StepStatus
from opscore.models import Event
from tests.factories import AgentFactory, make_step
from tests.processes import children_of, cmdline, kill_tree, spawn_supervisor, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BOUND_SECONDS = 60  # the README's promise; every round here takes a few seconds
ROUNDS = 20


def step_workers(supervisor) -> list[int]:
    return [pid for pid in children_of(supervisor.pid) if "work --slot" in cmdline(pid)]


def cluster_workers(supervisor) -> list[int]:
    """The processes below the cluster's sentinel: its pool, monitor and pusher."""
    clusters = [p for p in children_of(supervisor.pid) if "qcluster" in cmdline(p)]
    sentinels = [s for cluster in clusters for s in children_of(cluster)]
    return sorted(p for sentinel in sentinels for p in children_of(sentinel))


def kill(pids) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def busy_step_worker(supervisor) -> list[int]:
    """Give a worker a long step, then name the process holding its lease."""
    step = make_step("test_effect", payload={"sleep_on_attempts": [1], "seconds": 30})
    running = wait_for(lambda: Step.objects.filter(pk=step.pk, status="running").first())
    pid = int(running.lease_owner.split(":")[1])
    assert pid in step_workers(supervisor)
    return [pid]


def idle_step_worker(supervisor) -> list[int]:
    busy = {
        int(o.split(":")[1])
        for o in Step.objects.filter(status="running").values_list("lease_owner", flat=True)
    }
    return [next(pid for pid in step_workers(supervisor) if pid not in busy)]


def idle_cluster_workers(supervisor) -> list[int]:
    return cluster_workers(supervisor)


def busy_cluster_workers(supervisor) -> list[int]:
    async_task("time.sleep", 20)
    time.sleep(1.5)  # one of the pool has taken it
    return cluster_workers(supervisor)


SUPERVISOR = []
VICTIMS = [idle_step_worker, busy_step_worker, idle_cluster_workers, busy_cluster_workers]


def recovered_since(victim, before: int) -> bool:
    return recoveries(victim) > before


def recoveries(victim) -> int:
    kind = "cluster.restarted" if "cluster" in victim.__name__ else "worker.replaced"
    return Event.objects.filter(kind=kind).count()


def fresh_work_runs(agent, round_no: int, started: float) -> float:
    """A proposal through the intake, and (once the cluster is back) a django-q2 task: a task
    queued into a stuck cluster's queue only comes back after Q_CLUSTER's retry (~11 min)."""
    data = {"agent": agent.slug, "title": f"after kill {round_no}", "steps": [{"kind": "noop"}]}
    proposal = submit_proposal(data, source=ProposalSource.API).proposal
    wait_for(
        lambda: Step.objects.filter(mission__proposal=proposal, status=StepStatus.SUCCEEDED),
        timeout=BOUND_SECONDS,
        interval=0.1,
    )
    wait_for(lambda: len(cluster_workers(SUPERVISOR[0])) >= 4, timeout=BOUND_SECONDS)
    task = async_task("opscore.tasks.fire_standing_order", 0)
    connection.close()
    assert result(task, wait=BOUND_SECONDS * 1000) is not None, "the cluster ran no task"
    return time.monotonic() - started


def test_killing_any_worker_twenty_times_never_stops_the_work():
    agent = AgentFactory(slug="devops", max_concurrent_steps=5, daily_proposal_limit=1000)
    # Twenty kills in a row are a crash loop to the supervisor: past a second, its growing
    # pause (8 s by default) would be most of what this measures.
    supervisor = spawn_supervisor(
        lease=2, OPS_WORKER_SLOTS=2, Q_WORKERS=2, OPS_RESTART_MAX_PAUSE_SECONDS=1
    )
    try:
        SUPERVISOR[:] = [supervisor]
        wait_for(lambda: len(step_workers(supervisor)) == 2 and cluster_workers(supervisor))
        fresh_work_runs(agent, 0, time.monotonic())
        recovery = []
        for round_no in range(1, ROUNDS + 1):
            victim = VICTIMS[round_no % len(VICTIMS)]
            before = recoveries(victim)
            kill(victim(supervisor))
            started = time.monotonic()
            recovered = functools.partial(recovered_since, victim, before)
            if "cluster" in victim.__name__:  # a task queued into a dead cluster waits ~11 min
                wait_for(recovered, timeout=BOUND_SECONDS)
            recovery.append(fresh_work_runs(agent, round_no, started))
            # The supervisor's own record of a replaced worker, before the next round (or the
            # end of the test) takes it away: the other worker may have run the work first.
            wait_for(recovered, timeout=BOUND_SECONDS)
            Step.objects.filter(status="running").cancel()  # the long step of a busy round
    finally:
        kill_tree(supervisor)

    print(f"recovery after a kill: max {max(recovery):.1f}s, mean {sum(recovery) / ROUNDS:.1f}s")
    assert max(recovery) < BOUND_SECONDS
    replaced = Event.objects.filter(kind="worker.replaced").count()
    restarted = Event.objects.filter(kind="cluster.restarted").count()
    assert replaced >= ROUNDS // 2 and restarted >= ROUNDS // 2
