"""A live replay that breaks off (an error in the re-run, Ctrl-C) has still spent money: it
leaves its ReplayRun like any other, failed, with what it spent and why it ended."""

from types import SimpleNamespace

import pytest

from missions.work_executors import EXECUTORS
from opscore import budgets
from opscore.models import LLMCall, ReplayRun
from opscore.replay import replay
from tests.opscore.test_replay import (
    REPLAY_DAY,
    anthropic,  # noqa: F401  (the fixture)
    recorded_mission,
)

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("anthropic")
@pytest.mark.parametrize("breaks", [RuntimeError("the re-run broke"), KeyboardInterrupt()])
def test_a_live_replay_that_breaks_off_keeps_its_run_and_what_it_spent(agent, clock, breaks):
    """It used to leave no ReplayRun: the day's budget counted its spend, but the run, its
    cost (what llm_spend_usd adds for live replays) and why it ended were nowhere."""
    clock.freeze(REPLAY_DAY)
    mission = recorded_mission(agent, "analyze", "write_content")
    calls = LLMCall.objects.filter(step__mission=mission)
    one_call = calls.spend() / 2

    def rerun_then_break(provider):
        EXECUTORS["analyze"](SimpleNamespace(step=mission.steps.get(kind="analyze")))
        raise breaks

    with pytest.raises(type(breaks)):
        replay("mission", mission.id, calls, rerun_then_break, live=True, actor="operator:cli")

    run = ReplayRun.objects.get()
    assert (run.outcome, run.mode, run.actor) == ("failed", "live", "operator:cli")
    assert run.cost_usd == one_call == budgets.spent_today_usd() - one_call * 2
    assert run.report["halted"] == f"{type(breaks).__name__}: {breaks}".rstrip(": ")
