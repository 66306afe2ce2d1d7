"""A handler that finishes after its run was closed (the gap check failed it past its
deadline while a manual `run_order` still worked) did its work all the same: what it says is
kept on the run and in an event, never dropped."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from missions.orders import close_finished_missions
from missions.worker import handle_one_step
from opscore.models import Event, RunStatus, StandingOrder, StandingOrderRun
from opscore.standing_orders import HANDLERS, RunResult, check_gaps
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)


def test_a_handler_that_outlived_its_deadline_keeps_what_it_did(clock, monkeypatch):
    clock.freeze(START)

    def slow(order, run):
        clock.freeze(START + timedelta(hours=1))  # an hour's work; the gap check runs meanwhile
        check_gaps()
        return RunResult(RunStatus.COMPLETED, "recovered 2 step(s)", {"requeued": 2})

    monkeypatch.setitem(HANDLERS, "slow_test", slow)
    StandingOrder.objects.create(
        agent=AgentFactory(slug="auditor"), name="slow", cron="0 0 1 1 *", handler="slow_test"
    )
    said = io.StringIO()

    call_command("run_order", "slow", stdout=said)

    run = StandingOrderRun.objects.get()
    assert run.status == "failed"
    assert said.getvalue().strip() == (
        "slow: failed — timed out after 30 min; its handler finished later: completed — "
        "recovered 2 step(s)"
    )
    assert run.evidence["late_result"] == {
        "status": "completed",
        "summary": "recovered 2 step(s)",
        "evidence": {"requeued": 2},
    }
    late = Event.objects.get(kind="standing_order.late_result")
    assert late.payload["run_id"] == run.id and "recovered 2 step(s)" in late.summary


def test_a_run_timed_out_while_its_mission_worked_is_told_how_the_mission_ended(clock, monkeypatch):
    """The gap check failed the run past its deadline and dropped its mission with it: the
    mission's success, when it came, reached neither the run nor the ledger."""
    clock.freeze(START)
    step = make_step("noop")
    working = RunResult(RunStatus.STARTED, f"working on M{step.mission_id}", {}, step.mission)
    monkeypatch.setitem(HANDLERS, "asks_test", lambda order, run: working)
    StandingOrder.objects.create(
        agent=AgentFactory(slug="auditor"), name="asks", cron="0 0 1 1 *", handler="asks_test"
    )
    call_command("run_order", "asks", stdout=io.StringIO())
    clock.freeze(START + timedelta(hours=1))
    check_gaps()

    handle_one_step("w1")
    close_finished_missions()

    run = StandingOrderRun.objects.get()
    assert (run.status, run.mission_id) == ("failed", step.mission_id)
    assert run.summary == (
        "timed out after 30 min; its handler finished later: completed — "
        f"mission M{step.mission_id} succeeded"
    )
    late = Event.objects.get(kind="standing_order.late_result")
    assert late.payload == {"run_id": run.id, "mission_id": step.mission_id}
