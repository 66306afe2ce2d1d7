"""A dead worker's steps are free at once, not a lease later: its supervisor saw it exit, its
liveness row went stale, or the database it lost came back. Leases here are ten minutes long,
so nothing in these tests can be freed by a lease running out."""

import os
import signal
import sys
from datetime import timedelta

import pytest
from django.db.models.functions import Now

from missions.execution import claim_next_step
from missions.models import Step, Worker
from missions.recovery import release_steps_of_silent_workers
from operations.supervisor import Child, Supervisor
from opscore.models import Event
from tests.factories import AgentFactory, make_step
from tests.processes import (
    kill_tree,
    report_of,
    spawn_supervisor,
    spawn_worker,
    terminate_other_sessions,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
LONG_LEASE = 600
ONE_SLOT = {"OPS_WORKER_SLOTS": 1, "OPS_CODING_DRIVERS": 0, "Q_WORKERS": 1}


def attempts_of(step) -> list[tuple[str, str]]:
    return list(Step.objects.get(pk=step.pk).attempts.values_list("outcome", "error"))


@pytest.mark.slow
def test_a_worker_killed_mid_step_has_its_step_released_by_the_supervisor(tmp_path):
    step = make_step("test_gate", payload={"gate": str(tmp_path / "gate")})
    supervisor = spawn_supervisor(lease=LONG_LEASE, **ONE_SLOT)
    try:
        running = wait_for(lambda: Step.objects.filter(pk=step.pk, status="running").first())
        os.kill(int(running.lease_owner.split(":")[1]), signal.SIGKILL)
        wait_for(lambda: attempts_of(step)[0][0] == "lost")
        (tmp_path / "gate").touch()  # the replacement's attempt finishes at once
        wait_for(lambda: Step.objects.get(pk=step.pk).status == "succeeded")
    finally:
        kill_tree(supervisor)

    (lost, lost_error), (succeeded, _) = attempts_of(step)
    assert (lost, succeeded) == ("lost", "succeeded")
    assert "exited (killed by SIGKILL) on attempt 1" in lost_error
    replaced = Event.objects.get(kind="worker.replaced")
    assert replaced.payload["released"] == 1 and replaced.payload["pause_seconds"] == 0


def test_a_silent_workers_steps_are_released_and_claimable_at_once(settings):
    agent = AgentFactory(slug="devops", max_concurrent_steps=1)
    other = AgentFactory(slug="research", max_concurrent_steps=1)
    silent_step, live_step = make_step("noop", agent=agent), make_step("noop", agent=other)
    claim_next_step("machine-a:41:slot0"), claim_next_step("machine-b:42:slot0")
    gone_quiet = Now() - timedelta(seconds=settings.OPS_WORKER_STALE_SECONDS + 1)
    Worker.objects.create(worker_id="machine-a:41:slot0", host="machine-a", pid=41)
    Worker.objects.create(worker_id="machine-b:42:slot0", host="machine-b", pid=42)
    Worker.objects.filter(pk="machine-a:41:slot0").update(last_seen_at=gone_quiet)

    assert release_steps_of_silent_workers() == {"requeued": 1, "dead": 0, "blocked": 0}

    assert Step.objects.get(pk=live_step.pk).status == "running"
    [(outcome, error)] = attempts_of(silent_step)
    assert outcome == "lost" and "went silent" in error
    assert claim_next_step("rescuer").id == silent_step.id  # due now, its agent has room


@pytest.mark.slow
def test_an_outcome_the_database_outage_swallowed_is_recorded_when_it_is_back(tmp_path):
    agent = AgentFactory(slug="devops", max_concurrent_steps=1)
    step = make_step("test_gate", agent=agent, payload={"gate": str(tmp_path / "gate")})
    after = make_step("noop", agent=agent, priority=1)
    worker = spawn_worker("survivor", seconds=60, lease=LONG_LEASE)
    try:
        wait_for(lambda: Step.objects.get(pk=step.pk).status == "running")
        assert terminate_other_sessions() >= 1
        (tmp_path / "gate").touch()
        wait_for(lambda: Step.objects.get(pk=after.pk).status == "succeeded")
    finally:
        worker.send_signal(signal.SIGTERM)
    report = report_of(worker)

    assert report["reconnects"] >= 1
    assert [outcome for outcome, _ in attempts_of(step)] == ["succeeded"]  # its one attempt


@pytest.mark.slow
def test_a_poison_step_does_not_hold_up_the_other_kinds_of_its_agent():
    """A kind that kills its worker every time: each death frees the step and the agent's
    only concurrency slot at once, the kind dies after its attempts and trips the breaker,
    and every other step of the agent runs."""
    agent = AgentFactory(slug="devops", max_concurrent_steps=1)
    poison = [make_step("test_die", agent=agent, priority=900) for _ in range(2)]
    others = [make_step("noop", agent=agent) for _ in range(10)]
    supervisor = spawn_supervisor(lease=LONG_LEASE, OPS_WORKER_SLOTS=2, OPS_CODING_DRIVERS=0)
    try:
        wait_for(
            lambda: (
                not Step.objects.filter(pk__in=[s.pk for s in others])
                .exclude(status="succeeded")
                .exists()
            ),
            timeout=90,
        )
        wait_for(lambda: Event.objects.filter(kind="breaker.tripped").exists())
    finally:
        kill_tree(supervisor)

    outcomes = {
        o
        for s in poison
        for o in Step.objects.get(pk=s.pk).attempts.values_list("outcome", flat=True)
    }
    assert outcomes == {"lost"}
    assert Step.objects.get(pk=poison[0].pk).status in ("dead", "queued")
    assert "test_die" in Event.objects.get(kind="breaker.tripped").title
    released = Event.objects.filter(kind="worker.replaced", payload__released=1).count()
    assert released == sum(Step.objects.get(pk=s.pk).attempts.count() for s in poison)


def test_a_child_that_dies_young_holding_nothing_is_restarted_after_a_growing_pause():
    child = Child("worker-slot-0", [sys.executable, "-c", "raise SystemExit(3)"], "worker")
    supervisor = Supervisor([child])
    supervisor._spawn(child)

    pauses = []
    for _ in range(3):
        child.process.wait()
        supervisor.tick()
        pauses.append(replacements().last().payload["pause_seconds"])
        wait_for(lambda: supervisor.tick() and child.restart_at is None, timeout=30)
    child.process.wait()

    assert pauses == [0.5, 1.0, 2.0]
    assert "died 3 time(s) young: restarting in 2.0s" in replacements().last().summary


def test_the_pause_doubles_up_to_the_operators_ceiling(settings):
    from operations.supervisor import restart_pause

    assert [restart_pause(n) for n in range(7)] == [0, 0.5, 1.0, 2.0, 4.0, 8, 8]
    settings.OPS_RESTART_MAX_PAUSE_SECONDS = 1
    assert [restart_pause(n) for n in range(4)] == [0, 0.5, 1, 1]


def replacements():
    return Event.objects.filter(kind="worker.replaced").order_by("id")


def test_a_worker_that_stays_up_is_restarted_at_once_when_it_dies():
    child = Child("worker-slot-0", [sys.executable, "-c", "raise SystemExit(3)"], "worker")
    supervisor = Supervisor([child])
    supervisor._spawn(child)
    child.process.wait()
    child.started_at -= 3600  # it had been up an hour

    supervisor.tick()

    assert child.restart_at is None and child.process.poll() in (None, 3)
    assert Event.objects.get(kind="worker.replaced").payload["pause_seconds"] == 0
    child.process.wait()
