"""Why did it do that? Every model call kept whole, and a mission or conversation replayed from
the record: offline, $0, nothing written to the ledger, divergence reported at the right call."""

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import httpx2
import pytest
from django.apps import apps
from django.core.management import call_command

from memory.calibration import calibrate_step
from memory.decisions import supersede_memory
from memory.models import Memory
from memory.policies import CalibrationPolicy
from missions import prompts
from missions.executors import Failed
from missions.models import Mission, Step
from missions.replay import replay_mission
from missions.work_executors import EXECUTORS
from missions.worker import handle_one_step
from opscore import budgets
from opscore.actions import record_event, set_policy
from opscore.llm import AnthropicProvider, LLMReply, LLMRequest, call_llm
from opscore.models import LLMCall, LLMCallRecord, LLMSpend, ReplayRun
from opscore.replay import readable, replay
from roundtable.lifecycle import request_conversation
from roundtable.replay import replay_conversation
from roundtable.speaking import run_conversation
from tests.factories import make_memories, make_step, propose

pytestmark = pytest.mark.django_db


def ledger() -> dict:
    """How many rows every table holds, but the replays' own."""
    return {m.__name__: m.objects.count() for m in apps.get_models() if m is not ReplayRun}


def recorded_mission(agent, *kinds) -> Mission:
    mission = Mission.objects.get(proposal=propose(agent, *kinds, title="Disk usage report"))
    while handle_one_step("w1"):
        pass
    mission.refresh_from_db()
    return mission


def anthropic_reply(text):
    return httpx2.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1000, "output_tokens": 200},
        },
    )


@pytest.fixture
def anthropic(monkeypatch):
    """The real Anthropic client on a fake transport that counts what reaches it."""
    served = []

    def handler(request):
        served.append(json.loads(request.content))
        return anthropic_reply(f"Answer number {len(served)}")

    fake = httpx2.MockTransport(handler)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: AnthropicProvider("sk-test", fake))
    return served


def test_it_keeps_the_request_and_reply_of_every_call_with_versions_and_links(agent):
    mission = recorded_mission(agent, "analyze")

    call = LLMCall.objects.get(step__mission=mission)
    assert set(call.record.request) == {"system", "messages", "tools", "parameters"}
    assert "Analyse the following" in call.record.request["messages"][0]["content"]
    assert call.record.request["parameters"]["max_tokens"] == 600
    assert call.record.reply["text"].strip() == mission.steps.get().result["text"]
    assert call.versions["prompt"] == prompts.TEMPLATES["analyze"][0]
    assert "llm_budget" in call.versions["policies"]
    assert call.links == {"step": mission.steps.get().id, "mission": mission.id}
    record = call.record
    assert record.size_bytes == len(record.request_z) + len(record.reply_z) > 0


def test_secrets_are_redacted_from_the_record_by_the_events_rules(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-very-secret-0123456789"
    step = make_step("analyze", payload={"topic": "Rotate sk-ant-very-secret-0123456789"})
    handle_one_step("w1")

    record = LLMCallRecord.objects.get(call__step=step)
    stored = json.dumps(record.request) + json.dumps(record.reply)
    assert "sk-ant-very-secret" not in stored and "[redacted]" in stored, stored


def test_an_offline_mission_replays_bit_identical_for_nothing_writing_nothing(agent):
    mission = recorded_mission(agent, "analyze", "write_content")
    before = ledger()

    run = replay_mission(mission.id)

    assert run.outcome == "identical" and run.calls == 2
    assert [c["diverged_on"] for c in run.report["calls"]] == [[], []]
    assert run.cost_usd == 0 and run.report["cost_usd"] == "0"
    assert ledger() == before


def test_an_anthropic_mission_replays_bit_identical_without_reaching_the_provider(agent, anthropic):
    mission = recorded_mission(agent, "analyze", "write_content")
    assert len(anthropic) == 2
    assert LLMCall.objects.filter(step__mission=mission).spend() > 0
    before = ledger()

    run = replay_mission(mission.id)

    assert run.outcome == "identical" and run.cost_usd == 0
    assert [c["decision_now"]["text"] for c in run.report["calls"]] == [
        "Answer number 1",
        "Answer number 2",
    ]
    assert len(anthropic) == 2  # the record answered; the transport saw nothing new
    assert ledger() == before


def test_a_prompt_change_is_reported_at_the_call_it_changed(agent, monkeypatch):
    mission = recorded_mission(agent, "analyze", "write_content")
    version, tier, temperature, _ = prompts.TEMPLATES["write_content"]
    changed = (version, tier, temperature, "Write it as a limerick.")
    monkeypatch.setitem(prompts.TEMPLATES, "write_content", changed)

    run = replay_mission(mission.id)

    assert run.outcome == "diverged"
    first, second = run.report["calls"]
    assert first["diverged_on"] == [] and second["diverged_on"] == ["prompt"]
    assert run.report["first_divergence"]["call"] == run.diverged_at_id == second["call"]
    assert "+" in second["prompt_diff"] and "limerick" in second["prompt_diff"]


def test_a_live_replay_reasks_the_provider_and_shows_the_new_decision(agent, monkeypatch):
    mission = recorded_mission(agent, "analyze")

    class Today:
        name = "scripted"

        def model_for(self, tier):
            return "scripted"

        def complete(self, request):
            return LLMReply("A different answer", 1, 1, "scripted", "scripted")

    monkeypatch.setattr("opscore.llm.get_provider", lambda: Today())
    before = ledger()

    run = replay_mission(mission.id, live=True)

    [call] = run.report["calls"]
    assert run.mode == "live" and call["diverged_on"] == ["reply", "decision"]
    assert call["decision_now"] == {"status": "succeeded", "text": "A different answer"}
    assert ledger() == before


def test_a_pruned_record_names_the_missing_calls_and_replays_nothing(agent):
    mission = recorded_mission(agent, "analyze", "write_content")
    first = LLMCall.objects.filter(step__mission=mission).order_by("id").first()
    first.record.prune("older than 30 days")

    run = replay_mission(mission.id)

    assert run.outcome == "missing" and run.calls == 0
    assert run.report["missing"] == [
        {"call": first.id, "purpose": "analyze", "reason": "older than 30 days"}
    ]


def test_a_replay_stops_at_its_call_limit_and_says_so(agent, settings):
    mission = recorded_mission(agent, "analyze", "write_content")
    settings.OPS_REPLAY_MAX_CALLS = 1

    run = replay_mission(mission.id)

    assert run.outcome == "stopped" and run.calls == 1
    assert "stopped after 1 calls" in run.report["halted"]


@pytest.mark.parametrize("kind", ["dev.code_change", "deploy"])
def test_a_call_it_does_not_replay_is_named_not_dropped(agent, kind):
    """A coding review's call on the mission vanished from the report ("identical", as if it
    had been replayed and matched); one on a step of a kind with an executor that asks no model
    (deploy, crawl) ran that executor again, a crawl fetching its page."""
    mission = recorded_mission(agent, "analyze")
    review = Step.objects.create(mission=mission, kind=kind, agent=agent, status="succeeded")
    request = LLMRequest(system="Review", messages=[{"role": "user", "content": "the diff"}])
    call_llm(request, agent=agent, purpose="coding.review", prompt_version="r1", step=review)
    skipped = LLMCall.objects.get(purpose="coding.review")

    run = replay_mission(mission.id)

    assert run.outcome == "identical" and run.calls == 1
    assert run.report["skipped"] == [
        {"call": skipped.id, "purpose": "coding.review", "why": f"{kind} steps do not replay"}
    ]
    assert f"not replayed: call {skipped.id} (coding.review): {kind} steps do not" in readable(run)


def test_a_conversation_links_its_turns_and_replays_identically(crew):
    conversation = request_conversation(
        "standup", [a.slug for a in crew], "the week ahead", source="operator"
    )
    run_conversation(conversation, random.Random(1), pause=0)
    turns = list(conversation.turns.values_list("id", flat=True))
    calls = LLMCall.objects.linked_to(conversation=conversation.id).order_by("id")
    assert [c.links.get("turn") for c in calls if c.purpose == "roundtable.turn"] == turns
    assert calls.last().purpose == "roundtable.distill" and calls.last().links["candidates"]
    before = ledger()

    run = replay_conversation(conversation.id)

    assert run.outcome == "identical", readable(run)
    assert run.calls == len(turns) + 1 and ledger() == before


def test_the_command_reports_json_and_a_readable_diff(agent, monkeypatch, capsys):
    mission = recorded_mission(agent, "analyze")
    call_command("replay", "mission", str(mission.id), "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "identical" and report["replay_run"]

    monkeypatch.setitem(prompts.TEMPLATES, "analyze", ("analyze.v1", "main", 0.4, "Be brief."))
    with pytest.raises(SystemExit) as exited:
        call_command("replay", "mission", str(mission.id))
    assert exited.value.code == 1
    shown = capsys.readouterr().out
    assert "diverged" in shown and "+" in shown and "Be brief." in shown


def test_the_command_refuses_an_unknown_mission(db, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("replay", "mission", "999999", "--json")
    assert exited.value.code == 2
    assert json.loads(capsys.readouterr().out)["error"] == "no mission 999999"


def test_a_recorded_replay_reads_the_memories_of_then_a_live_one_todays(agent, clock):
    clock.freeze(datetime(2026, 5, 4, 9, tzinfo=UTC))
    mission = recorded_mission(agent, "analyze")
    clock.freeze(datetime(2026, 5, 5, 9, tzinfo=UTC))
    make_memories(agent, "lesson", 2, content="Disk usage report")

    recorded, live = replay_mission(mission.id), replay_mission(mission.id, live=True)

    assert recorded.outcome == "identical", readable(recorded)
    [call] = live.report["calls"]
    assert "prompt" in call["diverged_on"] and "Disk usage report 0" in call["prompt_diff"]
    assert Memory.objects.active().count() == 2  # the replays' hiding was rolled back


def test_each_recorded_call_replays_with_the_memories_it_read_then(agent, clock):
    """Learned between two calls, retired and recalibrated after both: each call's replay
    reads the store as that call did."""
    hour = lambda h, m=0: datetime(2026, 5, 4, h, m, tzinfo=UTC)  # noqa: E731
    clock.freeze(hour(8))
    make_memories(agent, "lesson", 1, content="Disk usage report retired")
    clock.freeze(hour(9))
    mission = Mission.objects.get(proposal=propose(agent, "analyze", "analyze", title="Disk"))
    handle_one_step("w1")
    clock.freeze(hour(9, 30))
    make_memories(agent, "lesson", 1, content="Disk usage report learned", confidence="0.60")
    clock.freeze(hour(10))
    handle_one_step("w1")
    first, second = LLMCall.objects.filter(step__mission=mission).order_by("id")
    assert "report learned" not in first.record.request["system"]
    assert "confidence 0.60] Disk usage report learned" in second.record.request["system"]

    clock.freeze(hour(11))
    learned = Memory.objects.get(title__endswith="learned 0")
    event = record_event("step.succeeded", "again", agent=agent)
    calibrate_step(second.step_id, True, CalibrationPolicy(success_delta=0.08), event.id)
    supersede_memory(
        Memory.objects.get(title__endswith="retired 0").id, learned.id, actor="op", reason="x"
    )
    assert Memory.objects.get(pk=learned.pk).confidence != Decimal("0.60")

    replayed = replay_mission(mission.id)

    assert replayed.outcome == "identical", readable(replayed)
    assert Memory.objects.active().count() == 1  # the view was rolled back


def test_a_step_that_ended_before_a_call_but_was_learned_from_after_it_replays_identical(
    agent, clock
):
    """`replay mission 12`, pasted in the first hour, said "diverged" on a confidence: a step
    ended before the call, the heartbeat calibrated its memory only after it, and the replay
    dated the calibration by the step's ending, so the call got the calibrated confidence."""
    hour = lambda h: datetime(2026, 5, 4, h, tzinfo=UTC)  # noqa: E731
    clock.freeze(hour(8))
    make_memories(agent, "lesson", 1, content="Disk usage report", confidence="0.60")
    clock.freeze(hour(9))
    earlier = recorded_mission(agent, "analyze")
    ended = earlier.steps.get()
    clock.freeze(hour(10))
    mission = recorded_mission(agent, "analyze")
    assert "confidence 0.60]" in LLMCall.objects.get(step__mission=mission).record.request["system"]

    clock.freeze(hour(11))  # the beat that learns from the 9:00 ending
    ending = ended.events.get(kind="step.succeeded")
    calibrate_step(ended.id, True, CalibrationPolicy(success_delta=0.04), ending.id)
    assert Memory.objects.get().confidence == Decimal("0.64")

    replayed = replay_mission(mission.id)

    assert replayed.outcome == "identical", readable(replayed)


# ---- a live replay spends real money: the budget counts it


REPLAY_DAY = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)


def test_a_live_replay_adds_what_it_spent_to_todays_budget(agent, anthropic, clock):
    clock.freeze(REPLAY_DAY)
    mission = recorded_mission(agent, "analyze", "write_content")
    recorded = LLMCall.objects.filter(step__mission=mission).spend()
    assert budgets.todays_spend(agent, "steps") == {
        "total": recorded,
        "agent": recorded,
        "lane": recorded,
    }

    run = replay_mission(mission.id, live=True)

    assert len(anthropic) == 4 and run.cost_usd == recorded > 0  # the same replies, re-bought
    spent = recorded + run.cost_usd
    assert budgets.todays_spend(agent, "steps") == {"total": spent, "agent": spent, "lane": spent}
    assert budgets.spent_today_usd() == spent
    assert LLMSpend.objects.get(agent_slug="devops", lane="steps").calls == 4
    assert "counted in today's LLM budget" in readable(run)
    assert LLMCall.objects.count() == 2  # its own calls were rolled back with the rest


def test_a_live_replay_is_refused_the_calls_the_day_can_no_longer_afford(agent, anthropic, clock):
    """The first live call spends the agent's last cents: the second is refused by the budget
    (it used to pass, the replay's own spend being in no ledger), and the replay ends,
    reporting it as not asked: no call loops waiting for an answer that cannot come."""
    clock.freeze(REPLAY_DAY)
    mission = recorded_mission(agent, "analyze", "write_content")
    one_call = LLMCall.objects.filter(step__mission=mission).spend() / 2
    limit = float(one_call * 3) - 0.000001  # two recorded calls, then one more only
    policy = {"enabled": True, "per_agent_daily_usd": limit, "total_daily_usd": 100.0}
    set_policy("llm_budget", policy, actor="t")

    run = replay_mission(mission.id, live=True)

    assert len(anthropic) == 3  # two recorded, one live: the second live call never left
    assert run.outcome == "diverged" and len(run.report["calls"]) == 1
    [refused] = run.report["not_asked"]
    assert "daily LLM budget spent" in refused["why"] and refused["why"] in readable(run)
    assert budgets.todays_spend(agent, "steps")["agent"] == one_call * 3


def test_a_replay_whose_steps_no_longer_ask_the_model_ends(agent, monkeypatch):
    """Today's code fails the step before it asks: the recorded call is reported as not asked,
    and the replay goes on (it used to ask the same step again, for ever)."""
    mission = recorded_mission(agent, "analyze")
    from missions import work_executors

    monkeypatch.setitem(work_executors.EXECUTORS, "analyze", lambda ctx: Failed("no model today"))

    run = replay_mission(mission.id)

    assert run.outcome == "diverged" and run.report["calls"] == []
    [left] = run.report["not_asked"]
    assert left["purpose"] == "analyze" and left["why"] == "no model today"


def test_a_live_replay_that_fails_midway_still_counts_what_it_spent(agent, anthropic, clock):
    clock.freeze(REPLAY_DAY)
    mission = recorded_mission(agent, "analyze", "write_content")
    recorded = LLMCall.objects.filter(step__mission=mission).spend()
    calls = LLMCall.objects.filter(step__mission=mission)

    def rerun_then_break(provider):
        step = mission.steps.get(kind="analyze")
        EXECUTORS["analyze"](SimpleNamespace(step=step, token=None))  # as a replay runs it
        raise RuntimeError("the re-run broke")

    with pytest.raises(RuntimeError, match="the re-run broke"):
        replay("mission", mission.id, calls, rerun_then_break, live=True)

    assert len(anthropic) == 3
    assert budgets.spent_today_usd() == recorded * 3 / 2


def test_a_step_cancelled_while_its_call_was_out_is_replayed_as_cancelled_not_failed(
    agent, monkeypatch
):
    """What the step's attempt really ended as, from its row: its mission was cancelled while
    the call was out and the reply was never applied; the report said the step had failed."""
    from tests.scripted import CancelledMidCall

    mission = Mission.objects.get(proposal=propose(agent, "analyze", title="Disk usage report"))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: CancelledMidCall(mission, "Fine."))
    handle_one_step("w1")
    assert Step.objects.get(mission=mission).status == "cancelled"

    run = replay_mission(mission.id)

    (call,) = run.report["calls"]
    assert call["decision_was"] == {"status": "cancelled"}
    assert "decision was: {'status': 'cancelled'}" in readable(run)
