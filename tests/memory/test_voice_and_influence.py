"""Voice evolution and memory influence: memories visibly change how agents speak and choose."""

import random
import time

import pytest

from memory import voice
from memory.influence import steer_topic
from memory.models import Memory
from missions import loop
from missions.checkers import Beat
from missions.models import Proposal, TriggerRule
from opscore.actions import record_event, set_policy
from opscore.models import Event, LLMCall
from opscore.prompting import (
    VOICE_MODIFIERS,
    forget_derived_voices,
    system_prompt,
    voice_modifiers,
)
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.factories import AgentFactory, make_memories
from tests.fake_sockets import Clock

pytestmark = pytest.mark.django_db
FAR = float("inf")  # no deadline: an hour from import failed a worker running past it
ENGAGEMENT = "Reference what works in engagement when relevant"
CONTENT = "You've developed expertise in content strategy"
STRATEGIC = "You think strategically about long-term plans"


def test_lessons_tagged_engagement_evolve_the_voice_only_past_ten(agent):
    make_memories(agent, "lesson", 10, tags=["engagement"])
    make_memories(agent, "lesson", 5, tags=["ops"], content="other")
    assert voice.voice_modifiers("devops") == []

    make_memories(agent, "lesson", 1, tags=["engagement"], content="one more")
    assert voice.voice_modifiers("devops") == [ENGAGEMENT]


def test_patterns_count_only_when_content_is_their_top_tag(agent):
    make_memories(agent, "pattern", 6, tags=["ops"])
    assert voice.voice_modifiers("devops") == []

    make_memories(agent, "pattern", 7, tags=["content"], content="content")
    assert voice.voice_modifiers("devops") == [CONTENT]


def test_many_strategies_make_a_strategic_voice_and_retired_memories_do_not_count(agent):
    make_memories(agent, "strategy", 9)
    assert voice.voice_modifiers("devops") == [STRATEGIC]

    Memory.objects.filter(type="strategy").update(status="archived")
    assert voice.voice_modifiers("devops") == []


def test_lessons_learned_from_untrusted_chat_or_a_runtime_never_shape_the_voice(agent):
    from memory.models import MemoryCandidate

    def learned_from(memories, **source):
        fields = {"kind": "lesson", "title": "t", "body": "b", "confidence": "0.8"} | source
        memories.update(candidate=MemoryCandidate.objects.create(source_agent=agent, **fields))

    make_memories(agent, "lesson", 11, tags=["engagement"])
    learned_from(Memory.objects.all(), untrusted_reason="C3's topic came from outside")
    make_memories(agent, "pattern", 6, tags=["content"], content="content")
    learned_from(Memory.objects.filter(type="pattern"), source_ref="agentbus:devops")
    assert voice.voice_modifiers("devops") == []

    Memory.objects.update(candidate=None)  # the same lessons, learned from Opscore's own rows
    assert voice.voice_modifiers("devops") == [ENGAGEMENT, CONTENT]


def test_at_most_three_modifiers_reach_the_prompt_and_they_change_the_voice_version(agent):
    before, _ = system_prompt(agent, "anything")
    plain_version = agent.voice_version()
    make_memories(agent, "lesson", 11, tags=["engagement"])
    make_memories(agent, "pattern", 6, tags=["content"])
    make_memories(agent, "strategy", 9)
    VOICE_MODIFIERS.register("zz-extra", lambda slug: ["Be brief", "Be kind"])
    try:
        prompt, injected = system_prompt(agent, "anything")
    finally:
        VOICE_MODIFIERS.pop("zz-extra")

    assert "Personality evolution:" not in before
    assert prompt.count("\n- ") == 3 and "Personality evolution:\n- " + ENGAGEMENT in prompt
    assert injected["voice_modifiers"] == [ENGAGEMENT, CONTENT, STRATEGIC]
    assert injected["voice_version"] != plain_version
    assert injected["voice_version"] == agent.voice_version(injected["voice_modifiers"])


def test_a_conversation_derives_each_voice_once_and_every_turn_records_it(monkeypatch):
    people = [AgentFactory(slug=s) for s in ("coordinator", "devops", "research")]
    make_memories(people[1], "strategy", 9)
    derived = []
    real = voice.voice_stats
    monkeypatch.setattr(voice, "voice_stats", lambda slug: derived.append(slug) or real(slug))
    conversation = request_conversation("debate", [p.slug for p in people], "q3", source="op")

    run_conversation(conversation, random.Random(3), pause=0)

    turns = LLMCall.objects.filter(purpose="roundtable.turn")
    assert turns.count() >= 6  # debate: 6-10 turns
    assert sorted(derived[:3]) == ["coordinator", "devops", "research"]
    assert len(derived) == 4  # one per participant, then the distillation's own
    by_devops = turns.filter(agent_id="devops")
    assert all(c.injected["voice_modifiers"] == [STRATEGIC] for c in by_devops)


@pytest.fixture
def proactive_rule(agent):
    return TriggerRule.objects.create(
        name="proactive-research",
        trigger_event="proactive_research",
        proactive=True,
        action_config={"target_agent": "devops", "title": "Deep research"},
        topics=["durable queues", "engagement patterns", "evaluation of output"],
        cooldown_minutes=0,
    )


def test_a_memory_steers_the_topic_to_the_one_it_matches(agent, proactive_rule):
    make_memories(agent, "lesson", 1, content="Engagement patterns of long threads beat links")
    set_policy("memory_influence_policy", {"probability": 1.0}, actor="test")

    loop.evaluate_triggers(FAR, random.Random(0))

    proposal = Proposal.objects.get()
    memory = Memory.objects.get()
    assert proposal.title == "Deep research: engagement patterns"
    assert proposal.context == {"memory_influenced": True, "memory_ids": [memory.id]}
    accepted = Event.objects.get(kind="proposal.accepted", proposal=proposal)
    assert accepted.payload["memory_influenced"] is True
    assert accepted.payload["memory_ids"] == [memory.id]


def test_without_the_roll_or_a_match_the_rotation_chooses_and_says_so(agent, proactive_rule):
    make_memories(agent, "lesson", 1, content="Nothing about any topic here")
    set_policy("memory_influence_policy", {"probability": 1.0}, actor="test")

    loop.evaluate_triggers(FAR, random.Random(0))
    set_policy("memory_influence_policy", {"probability": 0.0}, actor="test")
    make_memories(agent, "lesson", 1, content="Durable queues need leases")
    loop.evaluate_triggers(FAR, random.Random(0))

    contexts = list(Proposal.objects.order_by("id").values_list("title", "context"))
    assert contexts == [
        ("Deep research: durable queues", {"memory_influenced": False, "memory_ids": []}),
        ("Deep research: engagement patterns", {"memory_influenced": False, "memory_ids": []}),
    ]


def test_weak_memories_and_other_kinds_never_steer(agent, proactive_rule):
    make_memories(agent, "lesson", 1, content="Durable queues", confidence="0.55")
    make_memories(agent, "insight", 1, content="Engagement patterns")
    set_policy("memory_influence_policy", {"probability": 1.0}, actor="test")

    assert steer_topic(proactive_rule, Beat(random.Random(0))) is None


def test_one_beat_reads_an_agents_memories_once(agent, proactive_rule, django_assert_num_queries):
    make_memories(agent, "lesson", 1, content="Durable queues need leases")
    set_policy("memory_influence_policy", {"probability": 1.0}, actor="test")
    beat = Beat(random.Random(0))
    steer_topic(proactive_rule, beat)

    with django_assert_num_queries(5):  # the policy, once a rule; memories from the cache
        for _ in range(5):
            assert steer_topic(proactive_rule, beat).topic == "durable queues"


def test_the_stage_filters_the_feed_by_memory_influence(agent, proactive_rule, client):
    make_memories(agent, "lesson", 1, content="Engagement patterns of long threads")
    set_policy("memory_influence_policy", {"probability": 1.0}, actor="test")
    loop.evaluate_triggers(FAR, random.Random(0))
    record_event("note", "an unrelated event")

    steered = client.get("/stage/?influenced=yes").content.decode()
    everything = client.get("/stage/").content.decode()

    assert "Deep research: engagement patterns" in steered
    assert "an unrelated event" not in steered and "an unrelated event" in everything


def test_step_prompts_reuse_a_derived_voice_for_a_while(agent, settings):
    settings.OPS_VOICE_CACHE_SECONDS = 60
    forget_derived_voices()
    make_memories(agent, "strategy", 9)
    assert system_prompt(agent, "x")[1]["voice_modifiers"] == [STRATEGIC]

    Memory.objects.update(status="archived")

    assert system_prompt(agent, "x")[1]["voice_modifiers"] == [STRATEGIC]  # cached
    settings.OPS_VOICE_CACHE_SECONDS = 0
    assert system_prompt(agent, "x")[1]["voice_modifiers"] == []


@pytest.fixture(scope="module")
def voice_derived_on_a_clock_ahead(django_db_blocker):
    """What an earlier test on a fake monotonic clock, ahead of the real one, leaves behind:
    devops's voice derived (empty, with no memories yet) and dated in the real clock's future.
    Module-scoped, so it is in place before the test's own fixtures run."""
    with pytest.MonkeyPatch.context() as patch, django_db_blocker.unblock():
        patch.setattr("time.monotonic", Clock(now=time.monotonic() + 86_400))
        assert voice_modifiers("devops") == []


def test_a_voice_derived_in_an_earlier_test_on_a_fake_clock_is_not_reused(
    voice_derived_on_a_clock_ahead, agent
):
    make_memories(agent, "strategy", 9)

    assert voice_modifiers("devops") == [STRATEGIC]


def test_a_voice_is_derived_on_a_machine_started_seconds_ago(agent, settings, monkeypatch):
    """time.monotonic() counts from boot: a process started by a machine's boot reads a few
    seconds, which the cache once took as 'derived a few seconds ago' for a never-derived
    voice, so every prompt of the first minute went out without what the memories taught."""
    settings.OPS_VOICE_CACHE_SECONDS = 60
    forget_derived_voices()
    monkeypatch.setattr(time, "monotonic", lambda: 5.0)
    make_memories(agent, "strategy", 9)

    assert system_prompt(agent, "x")[1]["voice_modifiers"] == [STRATEGIC]
