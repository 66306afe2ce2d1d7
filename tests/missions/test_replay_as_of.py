"""A recorded replay asks today's code with the mission as each recorded call saw it: what an
operator wrote on the mission afterwards (a remark on its thread, the answer to a question, a
note) was not in that call's prompt, so it is not in the replayed one either."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.mission_control import note_mission
from missions.models import Comment, Mission
from missions.replay import replay_mission
from missions.threads import post_comment
from missions.worker import handle_one_step
from opscore.models import LLMCall
from opscore.prompting import forget_derived_voices
from opscore.replay import readable
from tests.factories import make_memories, propose
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(clock, minutes: int) -> None:
    clock.freeze(NOON + timedelta(minutes=minutes))


def test_what_an_operator_wrote_between_two_steps_is_only_in_the_second(agent, clock):
    """The remark and the note reached the second step's prompt, not the first's: the replay
    said today's code diverged at the first call, though nothing had changed."""
    at(clock, 0)
    mission = Mission.objects.get(proposal=propose(agent, "analyze", "write_content", title="P"))
    handle_one_step("w1")
    at(clock, 5)
    post_comment("mission", mission.id, actor="operator:ann", text="EU only, please")
    note_mission(mission.id, actor="operator:ann", text="Keep it short")
    at(clock, 6)
    handle_one_step("w1")

    run = replay_mission(mission.id)

    assert run.outcome == "identical", readable(run)
    assert run.calls == 2


def test_a_question_and_its_answer_replay_as_they_were_asked(agent, monkeypatch, clock):
    """The step asked, the operator answered, the step ran again: the first call's replay was
    told it had asked already and been answered (its prompt diverged, and it did not ask)."""
    at(clock, 0)
    model = Scripted("QUESTION: Which region?", "EU pricing: raise by 5%.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    mission = Mission.objects.get(proposal=propose(agent, "analyze", title="Pricing"))
    handle_one_step("w1")
    question = Comment.objects.get(kind="question")
    at(clock, 5)
    post_comment("mission", mission.id, actor="operator:ann", text="The EU.", answers=question.id)
    at(clock, 6)
    handle_one_step("w1")

    run = replay_mission(mission.id)

    assert run.outcome == "identical", readable(run)
    assert run.report["calls"][-1]["decision_now"]["text"] == "EU pricing: raise by 5%."
    assert Comment.objects.filter(kind="question").count() == 1  # the replay's was rolled back


def test_each_call_replays_with_the_voice_it_had_then(agent, clock, settings):
    """The agent's voice grew between the two steps (nine strategies learned): the replay took
    the second call's voice from the process's cache, derived for the first call's moment, and
    said today's code had dropped "You think strategically" from its prompt."""
    settings.OPS_VOICE_CACHE_SECONDS = 60
    at(clock, 0)
    mission = Mission.objects.get(proposal=propose(agent, "analyze", "write_content", title="P"))
    handle_one_step("w1")
    at(clock, 30)
    make_memories(agent, "strategy", 9, content="Plan the quarter")
    forget_derived_voices()  # the worker's cache had long expired by the second step
    at(clock, 60)
    handle_one_step("w1")
    second = LLMCall.objects.filter(step__mission=mission).order_by("id").last()
    assert "You think strategically" in second.record.request["system"]
    forget_derived_voices()

    run = replay_mission(mission.id)

    assert run.outcome == "identical", readable(run)
