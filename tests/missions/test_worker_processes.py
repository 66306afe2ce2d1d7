"""Durability with real processes: SIGKILL, SIGSTOP, two workers, a Postgres restart."""

import itertools
import os
import signal
import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models.functions import Now

from missions.models import OutboxMessage, Step, StepAttempt, Worker
from missions.outbox import deliver_pending
from missions.recovery import reap_expired_leases
from opscore import embedded_db
from opscore.models import Event
from tests.factories import AgentFactory, make_step
from tests.processes import (
    descendants,
    kill_tree,
    report_of,
    spawn_supervisor,
    spawn_worker,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def instant_retries(settings):
    settings.OPS_RETRY_BASE_SECONDS = 0


@pytest.fixture
def workers():
    spawned = []

    def spawn(*args, **kwargs):
        process = spawn_worker(*args, **kwargs)
        spawned.append(process)
        return process

    yield spawn
    for process in spawned:
        if process.poll() is None:
            process.kill()
        process.communicate()


def status_of(step):
    return Step.objects.get(pk=step.pk).status


def lease_expired(step):
    return Step.objects.filter(pk=step.pk, lease_expires_at__lt=Now()).exists()


def test_a_killed_worker_is_recovered_and_the_effect_happens_once(workers):
    step = make_step("test_effect", payload={"sleep_on_attempts": [1], "seconds": 60})
    doomed = workers("doomed")
    wait_for(lambda: status_of(step) == "running")

    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    wait_for(lambda: lease_expired(step))
    assert reap_expired_leases()["requeued"] == 1
    report_of(workers("rescuer", seconds=3))

    step.refresh_from_db()
    assert step.status == "succeeded"
    assert list(step.attempts.values_list("worker_id", "outcome")) == [
        ("doomed", "lost"),
        ("rescuer", "succeeded"),
    ]
    assert OutboxMessage.objects.filter(step=step).count() == 1
    deliver_pending()
    assert OutboxMessage.objects.get(step=step).status == "delivered"


def test_a_stalled_workers_late_completion_is_refused(workers):
    step = make_step("test_effect", payload={"sleep_on_attempts": [1], "seconds": 1.5})
    stalled = workers("stalled", seconds=8, lease=1)
    wait_for(lambda: status_of(step) == "running")
    stalled.send_signal(signal.SIGSTOP)

    wait_for(lambda: lease_expired(step))
    reap_expired_leases()
    report_of(workers("fresh", seconds=2, lease=30))
    assert status_of(step) == "succeeded"
    stalled.send_signal(signal.SIGCONT)
    report_of(stalled)

    refusal = wait_for(lambda: Event.objects.filter(kind="step.late_write_refused").first())
    assert "attempt 1 by stalled" in refusal.summary
    assert Step.objects.get(pk=step.pk).result == {"attempt": 2}
    assert OutboxMessage.objects.filter(step=step).count() == 1


def test_a_step_whose_worker_always_dies_ends_dead_after_max_attempts(workers):
    step = make_step("test_die", max_attempts=3)

    for attempt in range(1, 5):
        process = workers(f"w{attempt}", seconds=3, lease=1)
        process.wait(timeout=30)
        if status_of(step) == "dead":
            break
        wait_for(lambda: lease_expired(step))
        reap_expired_leases()

    step.refresh_from_db()
    assert step.status == "dead"
    assert step.attempt_count == 3
    assert list(step.attempts.values_list("outcome", flat=True)) == ["lost"] * 3
    assert "lost its lease on attempt 3" in step.last_error


def test_a_long_step_keeps_its_lease_and_is_never_reaped(workers):
    step = make_step("test_effect", payload={"sleep_on_attempts": [1], "seconds": 3})
    worker = workers("patient", seconds=5, lease=1)
    wait_for(lambda: status_of(step) == "running")

    for _ in range(6):
        assert reap_expired_leases()["requeued"] == 0
        wait_for(lambda: True, timeout=1)
        time.sleep(0.5)
    report_of(worker)

    step.refresh_from_db()
    assert step.status == "succeeded"
    assert list(step.attempts.values_list("outcome", flat=True)) == ["succeeded"]


def test_the_liveness_row_names_a_long_step_and_counts_what_ran(workers):
    long = make_step("test_effect", payload={"sleep_on_attempts": [1], "seconds": 2})
    make_step("noop")
    worker = workers("watched", seconds=4, lease=1)

    wait_for(lambda: Worker.objects.filter(pk="watched", current_step=long.id).exists())
    report_of(worker)

    row = Worker.objects.get(pk="watched")
    assert (row.current_step_id, row.steps_run) == (None, 2)


def test_ctrl_c_lets_the_running_step_finish_then_stops(workers):
    running = make_step("test_effect", payload={"sleep_on_attempts": [1], "seconds": 1.5})
    waiting = make_step("noop", priority=1)
    worker = workers("interrupted", seconds=60)
    wait_for(lambda: status_of(running) == "running")

    worker.send_signal(signal.SIGINT)
    report = report_of(worker, timeout=15)

    assert report["steps"] == 1
    assert (status_of(running), status_of(waiting)) == ("succeeded", "queued")


def test_two_workers_never_run_a_step_twice(workers):
    agents = [AgentFactory(slug=f"crew-{n}", max_concurrent_steps=5) for n in range(4)]
    steps = [make_step("test_effect", agent=agents[n % 4]) for n in range(80)]

    # They drain the queue and stop (no time budget a loaded machine could run out of).
    first = workers("one", seconds=600, until_idle=True)
    second = workers("two", seconds=600, until_idle=True)
    reports = [report_of(first), report_of(second)]

    assert sum(r["steps"] for r in reports) == len(steps)
    assert set(Step.objects.values_list("status", flat=True)) == {"succeeded"}
    assert set(Step.objects.values_list("attempt_count", flat=True)) == {1}
    assert OutboxMessage.objects.count() == len(steps)


def test_two_supervisors_on_one_database_never_overlap_attempts():
    """Two whole supervisors (workers + cluster) share one database's queue and slots: the
    first holds every slot, the second's workers stand by; the first machine dies mid-step
    (every process SIGKILLed) and the second takes the slots and finishes the work."""
    agents = [AgentFactory(slug=f"crew-{n}", max_concurrent_steps=5) for n in range(2)]
    payload = {"sleep_on_attempts": [1], "seconds": 0.2}
    steps = [make_step("test_effect", agent=agents[n % 2], payload=payload) for n in range(160)]
    env = {"OPS_WORKER_SLOTS": 4, "OPS_WORKER_SESSION_SECONDS": 1}
    first = spawn_supervisor(**env)
    supervisors = [first]
    try:
        wait_for(lambda: Step.objects.filter(status="succeeded").count() >= 8)
        second = spawn_supervisor(**env)
        supervisors.append(second)
        wait_for(lambda: len(descendants(second.pid)) >= 6, interval=0.2)
        time.sleep(1)
        first_pids = descendants(first.pid)
        kill_tree(first)

        def all_done():
            reap_expired_leases()  # the sweeper's minute is too long for a test
            return not Step.objects.exclude(status="succeeded").exists()

        wait_for(all_done, timeout=90, interval=0.5)
        second_pids = descendants(second.pid)
    finally:
        for supervisor in supervisors:
            kill_tree(supervisor)

    attempts = StepAttempt.objects.filter(step__in=steps).order_by("step_id", "attempt_no")
    assert attempts.filter(outcome="succeeded").count() == len(steps)
    assert set(attempts.values_list("outcome", flat=True)) <= {"succeeded", "lost"}
    assert OutboxMessage.objects.count() == len(steps)
    for earlier, later in itertools.pairwise(attempts):
        if earlier.step_id == later.step_id:
            assert earlier.finished_at <= later.started_at, f"S{later.step_id} ran twice at once"
    ran_in = {int(worker.split(":")[1]) for worker in attempts.values_list("worker_id", flat=True)}
    assert ran_in & first_pids and ran_in & second_pids, "both machines ran steps"


def test_a_finished_step_wakes_its_dependent_without_waiting_for_a_poll(workers):
    first = make_step("noop")
    second = Step.objects.create(mission=first.mission, kind="noop", agent=first.agent)
    second.depends_on.add(first)
    worker = workers("chain", seconds=3)

    report = report_of(worker)

    assert report["steps"] == 2
    first.refresh_from_db(), second.refresh_from_db()
    assert second.attempts.get().started_at >= first.finished_at


@pytest.mark.serial
@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="restarts the embedded server only"
)
def test_a_postgres_restart_loses_nothing_and_workers_reconnect(workers):
    before = [make_step("test_effect") for _ in range(5)]
    worker = workers("survivor", seconds=12, lease=30)
    wait_for(lambda: all(status_of(s) == "succeeded" for s in before))

    restart_embedded_postgres()
    connection.close()
    after = [make_step("test_effect") for _ in range(5)]
    wait_for(lambda: all(status_of(s) == "succeeded" for s in after), timeout=20)

    report = report_of(worker)
    assert report["steps"] == 10
    assert report["reconnects"] >= 1
    assert Step.objects.filter(status="succeeded").count() == 10


def restart_embedded_postgres():
    from pgserver._commands import pg_ctl

    data_dir = settings.DATA_DIR / "pg"
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=data_dir, user=user, timeout=30)
    assert embedded_db.is_running(data_dir)
