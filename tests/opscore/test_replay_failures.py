"""A replay that cannot finish says why: one that breaks off (an error in the re-run, Ctrl-C)
has still spent money and leaves its ReplayRun, failed, with what it spent; a record pruned
while it ran is named missing, never answered with something else."""

import json
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from missions.replay import _rerun as rerun_mission
from missions.work_executors import EXECUTORS
from opscore import budgets
from opscore.models import LLMCall, ReplayRun
from opscore.replay import readable, replay
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
        EXECUTORS["analyze"](SimpleNamespace(step=mission.steps.get(kind="analyze"), token=None))
        raise breaks

    with pytest.raises(type(breaks)):
        replay("mission", mission.id, calls, rerun_then_break, live=True, actor="operator:cli")

    run = ReplayRun.objects.get()
    assert (run.outcome, run.mode, run.actor) == ("failed", "live", "operator:cli")
    assert run.cost_usd == one_call == budgets.spent_today_usd() - one_call * 2
    assert run.report["halted"] == f"{type(breaks).__name__}: {breaks}".rstrip(": ")


def test_a_record_pruned_while_the_replay_runs_is_named_missing_not_filled_in(agent):
    """Retention pruned the second call's record after the replay had checked them all: that
    call was answered with a fault the replay itself raised, reported as a step that failed
    (decision diverged) as if today's code had failed it."""
    mission = recorded_mission(agent, "analyze", "write_content")
    calls = LLMCall.objects.filter(step__mission=mission)
    first, second = calls.order_by("id")

    def prune_then_rerun(provider):
        second.record.prune("older than 30 days")
        return rerun_mission(mission, provider)

    run = replay("mission", mission.id, calls, prune_then_rerun)

    assert run.outcome == "missing", readable(run)
    assert run.report["missing"] == [
        {"call": second.id, "purpose": "write_content", "reason": "older than 30 days"}
    ]
    assert [c["call"] for c in run.report["calls"]] == [first.id]
    assert f"missing: call {second.id} (write_content): older than 30 days" in readable(run)


def test_the_command_reports_a_replay_that_broke_off_in_one_line_not_a_traceback(
    agent, monkeypatch, capsys
):
    """Today's code raising mid-replay used to reach the operator as a Python traceback from
    `manage.py replay`; the run it kept (failed, with why) was not named."""
    mission = recorded_mission(agent, "analyze")

    def broken(run):
        raise RuntimeError("today's analyze broke\nat line 2")

    monkeypatch.setitem(EXECUTORS, "analyze", broken)
    with pytest.raises(CommandError) as refused:
        call_command("replay", "mission", str(mission.id))

    run = ReplayRun.objects.get(outcome="failed")
    assert refused.value.returncode == 1
    said = str(refused.value)
    assert "\n" not in said and "Traceback" not in said
    assert f"replay run {run.id}" in said and "RuntimeError: today's analyze broke" in said

    with pytest.raises(SystemExit) as exited:
        call_command("replay", "mission", str(mission.id), "--json")
    assert exited.value.code == 1
    assert "broke off" in json.loads(capsys.readouterr().out)["error"]
