"""A worker stuck past its step's timeout is replaced: the lease keeper stops renewing, the
attempt is timed out with its reason, another worker can claim the step, the hung worker's late
write changes nothing, and its supervisor kills and restarts the process whose liveness stopped.
`test_hang` (tests/executors.py) times out after 30 s."""

from datetime import UTC, datetime, timedelta

import psutil
import pytest

from missions.execution import claim_next_step, record_outcome
from missions.executors import Succeeded
from missions.models import Step
from missions.worker import LEASES, StepRun, renew_every
from operations.supervisor import database_now
from opscore.models import Event
from tests.factories import make_step
from tests.processes import kill_tree, spawn_supervisor, wait_for

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ONE_SLOT = {"OPS_WORKER_SLOTS": 1, "OPS_CODING_DRIVERS": 0, "Q_WORKERS": 1}


def attempts_of(step) -> list[tuple[str, str, str]]:
    rows = Step.objects.get(pk=step.pk).attempts.values_list("outcome", "worker_id", "error")
    return list(rows)


def hung_run(step, worker="hung:41:slot0") -> StepRun:
    claimed = claim_next_step(worker)
    assert claimed.id == step.id
    return StepRun(claimed, worker)


@pytest.mark.django_db
def test_it_renews_a_lease_before_the_deadline(clock, tmp_path):
    clock.freeze(T0)
    step = make_step("test_hang", payload={"folder": str(tmp_path)})
    run = hung_run(step)
    run.renewed_at -= renew_every()  # a third of a lease since the claim
    clock.freeze(T0 + timedelta(seconds=29))

    LEASES.tend(run)

    row = Step.objects.get(pk=step.pk)
    assert row.status == "running" and not run.lease_lost.is_set()
    assert row.lease_expires_at > T0 + timedelta(seconds=29)
    assert [a[0] for a in attempts_of(step)] == ["running"]


@pytest.mark.django_db
def test_an_executor_watching_its_lease_sees_the_keeper_let_go(clock, tmp_path):
    """The lease's Event is made when first asked for: one an executor took before its step
    timed out is the one the keeper sets."""
    clock.freeze(T0)
    step = make_step("test_hang", payload={"folder": str(tmp_path)})
    run = hung_run(step)
    watched = run.lease_lost
    clock.freeze(T0 + timedelta(seconds=31))

    LEASES.tend(run)

    assert watched.is_set() and run.lease_lost is watched


@pytest.mark.django_db
def test_it_times_out_a_hung_attempt_and_fences_its_late_write(clock, settings, tmp_path):
    settings.OPS_RETRY_BASE_SECONDS = 0
    clock.freeze(T0)
    step = make_step("test_hang", payload={"folder": str(tmp_path)})
    run = hung_run(step)
    clock.freeze(T0 + timedelta(seconds=31))

    LEASES.tend(run)

    assert run.timed_out and run.lease_lost.is_set()
    [(outcome, worker, error)] = attempts_of(step)
    assert (outcome, worker) == ("timed_out", "hung:41:slot0")
    assert "ran past its 30s timeout" in error
    timed_out = Event.objects.get(kind="step.timed_out")
    assert timed_out.payload == {"attempt": 1, "timeout_seconds": 30}

    rescuer = claim_next_step("rescuer:42:slot0")
    assert rescuer.id == step.id
    assert not record_outcome(step.id, run.token, Succeeded({"late": True}))

    row = Step.objects.get(pk=step.pk)
    assert (row.status, row.lease_owner, row.result) == ("running", "rescuer:42:slot0", None)
    assert row.lease_token == rescuer.lease_token
    assert [a[0] for a in attempts_of(step)] == ["timed_out", "running"]
    assert Event.objects.filter(kind="step.late_write_refused", step=step).exists()


@pytest.mark.django_db
def test_a_timed_out_step_with_an_outside_effect_waits_for_a_human(clock, settings):
    settings.OPS_STEP_TIMEOUT_SECONDS = 60
    clock.freeze(T0)
    step = make_step("post_tweet", payload={"text": "hello"})
    run = hung_run(step)
    clock.freeze(T0 + timedelta(seconds=61))

    LEASES.tend(run)

    row = Step.objects.get(pk=step.pk)
    assert (row.status, row.blocked_code) == ("blocked", "needs_human")
    assert "ran past its 60s timeout" in row.blocked_reason
    assert "not idempotent" in row.blocked_reason
    assert claim_next_step("rescuer:42:slot0") is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_stuck_in_a_hung_step_is_killed_and_replaced(clock, tmp_path):
    step = make_step("test_hang", payload={"folder": str(tmp_path)})
    supervisor = spawn_supervisor(lease=600, **ONE_SLOT)  # no lease runs out in this test
    try:
        wait_for(lambda: (tmp_path / "entered-1").exists(), timeout=60)
        hung_pid = int(Step.objects.get(pk=step.pk).lease_owner.split(":")[1])
        claimed_at = database_now()

        clock.travel(claimed_at + timedelta(seconds=31))  # past the timeout, not yet silent
        wait_for(lambda: attempts_of(step)[0][0] == "timed_out")
        assert psutil.pid_exists(hung_pid)  # still hung: the keeper only let go of its step

        clock.travel(claimed_at + timedelta(seconds=31 + 91))  # its liveness went stale
        wait_for(lambda: Step.objects.get(pk=step.pk).status == "succeeded", timeout=60)
    finally:
        kill_tree(supervisor)

    assert not psutil.pid_exists(hung_pid)
    (first, *_), (second, rescuer, _) = attempts_of(step)
    assert (first, second) == ("timed_out", "succeeded")
    assert int(rescuer.split(":")[1]) != hung_pid
    replaced = Event.objects.get(kind="worker.replaced")
    assert replaced.payload["stuck"] and replaced.payload["dead_pid"] == hung_pid
    assert "was stuck (no liveness for 90s) and was killed" in replaced.summary
