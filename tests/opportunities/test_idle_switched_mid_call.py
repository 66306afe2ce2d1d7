"""A switch thrown while an order's model call is out holds what the reply would have done:
the idle lane paused, or the agent disabled, after the idle thought was asked for and before
it came back. No idea is kept; the call's row stays (it was billed); the run ends as the switch
says — held for the lift (the pause), no work (the agent off) — and names it."""

import pytest

from opportunities.models import Idea
from opscore.actions import record_event
from opscore.models import LLMCall, StandingOrder
from opscore.overrides import apply_override, lift_override
from opscore.standing_orders import run_held_orders
from tests.factories import run_order_now
from tests.opportunities.test_idle import THOUGHTS
from tests.scripted import SwitchedMidCall

pytestmark = pytest.mark.django_db
ANN = "operator:ann"


@pytest.fixture
def idle_order(db):
    from console.bootstrap import bootstrap

    bootstrap(1, actor="test")
    bootstrap(5, actor="test", force=True)
    record_event("deploy.finished", "web-2 deployed with a new disk layout")
    return StandingOrder.objects.get(name="devops-idle-cognition")


def test_a_pause_thrown_during_the_call_holds_the_run_and_keeps_no_idea(idle_order, monkeypatch):
    pause = lambda: apply_override("pause_lane", "idle", reason="freeze", actor=ANN)  # noqa: E731
    provider = SwitchedMidCall(pause, THOUGHTS, THOUGHTS)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)

    run = run_order_now(idle_order)

    row = provider.thrown[0]
    assert run.status == "blocked", run.summary
    assert run.summary == (
        f"held: lane idle paused (queue) by override {row.id}: freeze; runs when the pause "
        "ends (the switch was thrown while its model call was out; the reply was not applied)"
    )
    assert run.evidence["held_by_lane"] == "idle"
    assert not Idea.objects.exists()
    assert LLMCall.objects.filter(purpose="idle.think", outcome="ok").count() == 1

    lift_override(row.id, actor=ANN, reason="fine again")
    run_held_orders()

    run.refresh_from_db()
    assert run.status == "completed" and Idea.objects.count() == 2


def test_an_agent_disabled_during_the_call_keeps_no_idea(idle_order, monkeypatch):
    off = lambda: apply_override("disable_agent", "devops", reason="odd", actor=ANN)  # noqa: E731
    provider = SwitchedMidCall(off, THOUGHTS)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)

    run = run_order_now(idle_order)

    row = provider.thrown[0]
    assert (run.status, run.summary) == (
        "no_work",
        f"devops is disabled (override {row.id}: odd) (the switch was thrown while its model "
        "call was out; the reply was not applied)",
    )
    assert not Idea.objects.exists()
    assert LLMCall.objects.filter(purpose="idle.think", outcome="ok").count() == 1
