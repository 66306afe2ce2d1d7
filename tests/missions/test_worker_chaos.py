"""Faults the other process tests do not inject: a connection cut while a long step holds a
renewed lease, a handler that raises or returns what no outcome is."""

import signal
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now

from missions.executors import EXECUTORS, Blocked, Failed
from missions.mission_control import time_out_missions
from missions.models import Mission, Step, StepAttempt, Worker
from missions.step_actions import cancel_mission, dead_letter_step
from missions.worker import WorkerSession, handle_one_step
from opscore.models import Event
from tests.factories import make_step
from tests.processes import report_of, spawn_worker, terminate_other_sessions, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def attempts_of(step) -> list[tuple[str, str]]:
    rows = Step.objects.get(pk=step.pk).attempts.order_by("attempt_no")
    return list(rows.values_list("outcome", "error"))


@pytest.mark.slow
def test_a_long_steps_outcome_survives_the_database_restarting_under_it(tmp_path):
    """A step long enough for its lease to be renewed (a third of a lease: 20 s by default)
    names itself on its worker's row. The connections die while it runs; it then finishes:
    its one attempt succeeds, not 'interrupted … before running it' and run again."""
    step = make_step("test_gate", payload={"gate": str(tmp_path / "gate")})
    worker = spawn_worker("survivor", seconds=60, lease=3)
    try:
        wait_for(lambda: Worker.objects.filter(pk="survivor", current_step=step.pk).exists())
        assert terminate_other_sessions() >= 1
        (tmp_path / "gate").touch()
        wait_for(lambda: Step.objects.get(pk=step.pk).status not in ("queued", "running"))
    finally:
        worker.send_signal(signal.SIGTERM)
    report = report_of(worker)

    assert report["reconnects"] >= 1
    assert attempts_of(step) == [("succeeded", "")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("test_exit", "SystemExit: 3"),
        ("test_interrupt", "KeyboardInterrupt"),
        ("test_generator", "executor returned a generator object, not an outcome"),
    ],
)
def test_a_handler_that_exits_or_answers_no_outcome_fails_its_step_not_the_worker(kind, reason):
    """sys.exit() or a KeyboardInterrupt raised inside a handler, or a handler that answers
    something other than an outcome, is that step's failure with its reason: the worker goes
    on to the next step, and the step is not left running, reasonless, for a lease."""
    step = make_step(kind, max_attempts=1, priority=900)
    after = make_step("noop", priority=1)

    report = report_of(spawn_worker(f"w-{kind}", seconds=30, until_idle=True))

    step = Step.objects.get(pk=step.pk)
    assert (step.status, report["steps"]) == ("dead", 2)
    assert reason in step.last_error
    [(outcome, error)] = attempts_of(step)
    assert outcome == "failed" and reason in error
    assert Step.objects.get(pk=after.pk).status == "succeeded"


def cancel(step):
    cancel_mission(step.mission, actor="human:ops")


def dead_letter(step):
    dead_letter_step(step, actor="human:ops", reason="poison")


def past_its_deadline(step):
    Mission.objects.filter(pk=step.mission_id).update(deadline_at=Now() - timedelta(minutes=1))
    assert time_out_missions() == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("take_away", "status", "said"),
    [
        (cancel, "cancelled", "M{mission} cancelled by human:ops"),
        (dead_letter, "dead", "poison"),
        (past_its_deadline, "failed", "passed its deadline"),
    ],
)
def test_a_running_step_taken_away_from_its_worker_ends_its_attempt_too(
    tmp_path, take_away, status, said
):
    """A mission cancelled, a step dead-lettered or a mission past its deadline while a worker
    runs the step: the step ends, its worker's late completion is refused, and its attempt ends
    with it, saying why, not 'running' for ever (a bar growing to now on the mission's page)."""
    step = make_step("test_gate", payload={"gate": str(tmp_path / "gate")})
    worker = spawn_worker("w-taken", seconds=30, lease=30)
    try:
        wait_for(lambda: Step.objects.get(pk=step.pk).status == "running")
        take_away(step)
        (tmp_path / "gate").touch()
        wait_for(lambda: Event.objects.filter(kind="step.late_write_refused").exists())
    finally:
        worker.send_signal(signal.SIGTERM)
    report_of(worker)

    assert Step.objects.get(pk=step.pk).status == status
    [(outcome, error)] = attempts_of(step)
    assert outcome == "cancelled"
    assert said.format(mission=step.mission_id) in error
    assert StepAttempt.objects.get(step=step).finished_at is not None


@pytest.mark.slow
@pytest.mark.parametrize("atomic", [False, True])
def test_a_step_whose_database_restarts_under_it_is_handed_back_not_failed(tmp_path, atomic):
    """Postgres restarts while a step that reads the database works: its next query fails on
    the connection the restart cut. That is the outage's doing, not the step's, so the attempt
    is `interrupted` and the step runs again at once; it does not spend its only attempt and
    die, nor count toward switching its kind off."""
    gate = {"gate": str(tmp_path / "g"), "atomic": atomic}
    step = make_step("test_gate_then_read", max_attempts=1, payload=gate)
    worker = spawn_worker("w-restart", seconds=60, lease=600)
    try:
        wait_for(lambda: Step.objects.get(pk=step.pk).status == "running")
        assert terminate_other_sessions() >= 1
        (tmp_path / "g").touch()
        wait_for(lambda: Step.objects.get(pk=step.pk).status not in ("queued", "running"))
    finally:
        worker.send_signal(signal.SIGTERM)
    report_of(worker)

    assert Step.objects.get(pk=step.pk).status == "succeeded"
    (first, error), second = attempts_of(step)
    assert (first, second) == ("interrupted", ("succeeded", ""))
    assert "lost the database mid-step" in error


def test_a_statement_timeout_in_a_step_is_still_its_failure(monkeypatch):
    """An OperationalError on a connection that lives on (the step's own slow query) is not
    the database going away: the attempt fails and counts, as before."""

    def slow_query(run):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 1")
            cursor.execute("SELECT pg_sleep(1)")

    monkeypatch.setitem(EXECUTORS, "noop", slow_query)
    step = make_step("noop", max_attempts=1)

    assert handle_one_step("w1") is True

    [(outcome, error)] = attempts_of(step)
    assert outcome == "failed" and "statement timeout" in error


@pytest.mark.slow
@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("nul", "could not be stored: DataError: unsupported Unicode escape sequence"),
        ("date", "could not be stored: TypeError: Object of type date is not JSON serializable"),
    ],
)
def test_a_success_the_database_cannot_store_fails_its_step_not_the_worker(what, reason):
    """A result holding a NUL (a crawled page's text) or a value JSON has no form for: the
    step fails with that reason, and the worker goes on, rather than dying as it records it and
    leaving the step running, reasonless, to kill the next worker after its lease."""
    step = make_step("test_unstorable", max_attempts=1, priority=900, payload={"what": what})
    after = make_step("noop", priority=1)

    report = report_of(spawn_worker(f"w-{what}", seconds=30, until_idle=True))

    step = Step.objects.get(pk=step.pk)
    assert (step.status, step.result, report["steps"]) == ("dead", None, 2)
    [(outcome, error)] = attempts_of(step)
    assert outcome == "failed" and reason in error
    assert Step.objects.get(pk=after.pk).status == "succeeded"


def raises_with_a_nul(run):
    raise RuntimeError("bad\x00byte")


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (raises_with_a_nul, "dead"),
        (lambda run: Failed("bad\x00byte"), "dead"),
        (lambda run: Blocked("bad\x00byte"), "blocked"),
    ],
)
def test_a_reason_holding_a_nul_is_kept_not_the_end_of_the_worker(monkeypatch, answer, status):
    """Postgres text cannot hold a NUL: a failure's or a block's reason with one (an error
    echoing what a server sent) was refused as it was recorded, which ended the worker and
    left the step running with no reason. It is kept, the NUL written as \\x00."""
    monkeypatch.setitem(EXECUTORS, "noop", answer)
    step = make_step("noop", max_attempts=1)

    report = WorkerSession("w-nul", seconds=30, idle_poll=0.1, until_idle=True).run()

    step = Step.objects.get(pk=step.pk)
    assert (step.status, report.steps) == (status, 1)
    [(_, error)] = attempts_of(step)
    assert "bad\\x00byte" in error
    assert "bad\\x00byte" in (step.last_error or step.blocked_reason)
