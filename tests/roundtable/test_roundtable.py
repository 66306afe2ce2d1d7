"""Roundtable conversations: who speaks, what they may say, and what the company keeps."""

import itertools
import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from memory.models import Memory
from memory.retrieval import retrieve
from missions.models import Proposal
from opscore.actions import set_policy
from opscore.models import LLMCall
from roundtable.distillation import Distillation, apply_distillation, apply_drift, distill
from roundtable.lifecycle import request_conversation
from roundtable.models import Conversation, Relationship
from roundtable.scheduling import pick_participants, schedule_tick
from roundtable.speaking import run_conversation
from roundtable.speech import (
    interaction_for,
    next_speaker,
    offline_line,
    sanitize_turn,
    speaker_weight,
)
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db


def test_nobody_speaks_twice_in_a_row_and_closer_agents_answer_more():
    table = {("a", "b"): 0.9, ("a", "c"): 0.1, ("b", "c"): 0.5}

    def affinity(x, y):
        return table.get(tuple(sorted((x, y))), 0.5)

    answers = Counter()
    for seed in range(300):
        rand, spoken, last = random.Random(seed), Counter(), "a"
        for _ in range(10):
            speaker = next_speaker(["a", "b", "c"], last, spoken, affinity, rand)
            assert speaker != last
            if last == "a":
                answers[speaker] += 1
            spoken[speaker] += 1
            last = speaker
    assert answers["b"] > answers["c"] * 1.2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("See https://evil.example/x now", "See now"),
        ("<script>alert(1)</script> **bold** `code`", "alert(1) bold code"),
        ("   ", "fallback"),
        ("x" * 200, "x" * 119 + "…"),
        ("zero\u200bwidth", "zerowidth"),
        ("clear\x9b2J the screen\x9d", "clear2J the screen"),  # C1 controls: a CSI, an OSC
    ],
)
def test_turns_are_sanitised(raw, expected):
    cleaned = sanitize_turn(raw, fallback="fallback")

    assert cleaned == expected and len(cleaned) <= 120


@pytest.mark.parametrize("interaction", ["neutral", "agreement", "challenge"])
def test_an_offline_turn_quotes_a_topic_that_is_a_sentence(interaction):
    """The first-boot debate's topic is a question: unquoted, every offline turn read
    "On how strict should approvals be?, what do we actually know so far?"."""
    line = offline_line(interaction, "how strict should approvals be?", "", spoken=1)

    assert "“how strict should approvals be?”" in line and "?," not in line
    assert offline_line(interaction, "approvals", "", spoken=1).count("“") == 0


def test_drift_is_clamped_and_affinity_stays_in_bounds(crew):
    Relationship.objects.create(agent_a_id="coordinator", agent_b_id="devops", affinity=0.94)

    assert apply_drift("devops", "coordinator", 0.5, "great", 1, 0.03) == Decimal("0.95")
    for n in range(40):
        apply_drift("coordinator", "devops", -1.0, f"clash {n}", n, 0.03)

    rel = Relationship.objects.get()
    assert rel.affinity == Decimal("0.10")
    assert len(rel.drift_log) == 20
    assert {entry["drift"] for entry in rel.drift_log} == {-0.03}


def test_the_database_insists_on_ordered_pairs(crew):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Relationship.objects.create(agent_a_id="security", agent_b_id="devops")


def held(fmt="standup", agents=("coordinator", "devops", "research", "security")):
    conversation = request_conversation(fmt, list(agents), "launch", source="schedule")
    return run_conversation(conversation, random.Random(1), pause=0)


def test_a_conversation_runs_turn_by_turn_on_the_offline_provider(crew):
    conversation = held()

    turns = list(conversation.turns.all())
    assert 6 <= len(turns) <= 12
    assert turns[0].speaker_id == "coordinator"
    assert all(a.speaker_id != b.speaker_id for a, b in itertools.pairwise(turns))
    assert conversation.status == "succeeded"
    source = f"conversation:{conversation.id}"
    assert Memory.objects.filter(candidate__source_ref=source).count() == 4
    assert all(
        m.evidence == [{"type": "conversation", "id": conversation.id}]
        for m in Memory.objects.all()
    )


def test_what_an_offline_conversation_taught_is_never_served_to_a_real_model(crew, settings):
    conversation = held()
    learned = Memory.objects.filter(candidate__source_ref=f"conversation:{conversation.id}")
    assert learned.count() == 4 and all("offline" in m.tags for m in learned)
    mine = learned.get(agent="devops")

    assert mine.id in [r.memory.id for r in retrieve("devops", "launch")]  # offline reads it
    settings.OPSCORE_LLM = "anthropic"
    assert mine.id not in [r.memory.id for r in retrieve("devops", "launch")]


def test_distilling_the_same_conversation_twice_writes_nothing_new(crew):
    conversation = held()
    before = (Memory.objects.count(), Proposal.objects.count())

    distill(conversation)

    assert (Memory.objects.count(), Proposal.objects.count()) == before


def test_malformed_distillation_is_retried_once_then_marked(crew, monkeypatch):
    conversation = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted("not json", '{"memories": 3}'))

    result = distill(conversation)

    assert result.status == "distill_failed"
    assert result.error.startswith("malformed distillation")


def test_a_malformed_distillation_reply_is_a_bad_reply_in_the_ledger(crew, monkeypatch):
    """The conversation said the reply was unusable while its LLMCall rows said `ok`."""
    conversation = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    provider = Scripted("not json", '{"memories": 3}')
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)

    distill(conversation)

    calls = LLMCall.objects.filter(purpose="roundtable.distill").order_by("id")
    assert [c.outcome for c in calls] == ["bad_reply", "bad_reply"]
    assert calls[0].error.startswith("malformed distillation reply: reply: not valid JSON")
    assert calls[1].error.startswith("malformed distillation reply: memories")


def test_invalid_items_are_dropped_and_logged_valid_ones_kept(crew):
    conversation = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    data = Distillation(
        memories=[
            {"agent": "devops", "type": "lesson", "content": "Test restores", "confidence": 0.9},
            {"agent": "devops", "type": "rumour", "content": "?", "confidence": 0.9},
            {"agent": "devops", "type": "insight", "content": "weak", "confidence": 0.3},
            {"agent": "nobody", "type": "insight", "content": "ghost", "confidence": 0.9},
        ],
        pairwise_drift=[{"a": "devops", "b": "security", "drift": 0.02}, {"a": "devops"}],
        action_items=[],
    )

    kept = apply_distillation(conversation, data)

    assert kept["memories"] == 1 and kept["drifts"] == 1
    assert len(kept["dropped"]) == 4
    assert Memory.objects.get().content == "Test restores"


def test_a_memory_the_gate_refuses_to_file_is_dropped_with_why_and_the_rest_kept(crew):
    conversation = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    said = {"agent": "devops", "type": "lesson", "confidence": 0.9}
    memories = [said | {"content": "   "}, said | {"content": "Test restores"}]
    drift = [{"a": "devops", "b": "security", "drift": 0.02}]
    data = Distillation(memories=memories, pairwise_drift=drift, action_items=[])

    kept = apply_distillation(conversation, data)

    assert kept["memories"] == 1 and kept["drifts"] == 1
    (dropped,) = kept["dropped"]
    assert dropped.startswith("memory 0: ") and "title" in dropped
    assert Memory.objects.get().content == "Test restores"


def test_at_most_six_memories_per_conversation(crew):
    conversation = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    memories = [
        {"agent": "devops", "type": "insight", "content": f"m{n}", "confidence": 0.8}
        for n in range(9)
    ]

    kept = apply_distillation(
        conversation, Distillation(memories=memories, pairwise_drift=[], action_items=[])
    )

    assert kept["memories"] == 6
    assert kept["dropped"] == [f"memory {n}: past the 6 a conversation keeps" for n in (6, 7, 8)]


def test_drift_with_relationship_drift_switched_off_is_listed_as_dropped(crew):
    conversation = request_conversation("debate", ["devops", "security"], "x", source="operator")
    set_policy("relationship_drift_policy", {"enabled": False}, actor="test")
    drift = [{"a": "devops", "b": "security", "drift": 0.02}]

    kept = apply_distillation(
        conversation, Distillation(memories=[], pairwise_drift=drift, action_items=[])
    )

    assert kept["drifts"] == 0
    assert kept["dropped"] == ["drift 0: relationship_drift_policy is switched off"]


def test_a_pair_named_again_in_one_distillation_drifts_once_not_past_the_cap(crew):
    """README: a conversation drifts a relationship by at most ±0.03. A reply naming the same
    pair six times (either way round) moved it 0.50 → 0.68 in one conversation."""
    conversation = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    drift = [{"a": "devops", "b": "security", "drift": 0.03}] * 5
    drift.append({"a": "security", "b": "devops", "drift": 0.03})

    kept = apply_distillation(
        conversation, Distillation(memories=[], pairwise_drift=drift, action_items=[])
    )

    relationship = Relationship.objects.get()
    assert relationship.affinity == Decimal("0.53") and relationship.total_interactions == 1
    assert kept["drifts"] == 1
    assert kept["dropped"] == [
        f"drift {n}: devops↔security drifted already in this conversation" for n in range(1, 6)
    ]


def test_an_agent_keeps_at_most_its_cap_of_memories_retiring_the_weakest(crew):
    set_policy("memory_policy", {"max_active_per_agent": 3}, actor="test")
    for n, confidence in enumerate(["0.90", "0.60", "0.80"]):
        Memory.objects.create(
            agent_id="devops",
            type="insight",
            content=f"m{n}",
            confidence=Decimal(confidence),
            source_trace_id=f"t{n}",
        )
    conversation = Conversation.objects.create(
        format="debate", topic="t", participants=["devops", "security"]
    )
    learned = {"agent": "devops", "type": "insight", "content": "new one", "confidence": 0.7}

    apply_distillation(
        conversation, Distillation(memories=[learned], pairwise_drift=[], action_items=[])
    )

    assert Memory.objects.get(status="archived").content == "m1"
    assert Memory.objects.active().count() == 3


def test_action_items_from_formal_formats_become_proposals_capped_at_three_a_day(crew):
    conversation = request_conversation(
        "war_room", ["coordinator", "devops", "security"], "x", source="operator"
    )
    items = [{"agent": "devops", "title": f"Fix {n}", "step_kind": "analyze"} for n in range(5)]

    kept = apply_distillation(
        conversation, Distillation(memories=[], pairwise_drift=[], action_items=items)
    )

    assert kept["action_items"] == 3
    sources = set(Proposal.objects.values_list("source", flat=True))
    assert sources == {"conversation"} and Proposal.objects.count() == 3
    casual = request_conversation("watercooler", ["devops", "security"], "x", source="schedule")
    assert (
        apply_distillation(
            casual, Distillation(memories=[], pairwise_drift=[], action_items=items)
        )["action_items"]
        == 0
    )


def test_the_daily_conversation_cap_holds_and_the_standup_always_happens(crew, settings, clock):
    settings.TIME_ZONE = "UTC"  # the slots' days are UTC's here: test_schedule_time_zone for others
    clock.midday()  # the conversations are one day's when the cap counts them
    set_policy("roundtable_policy", {"enabled": True, "max_daily_conversations": 2}, actor="t")
    morning = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    standup = schedule_tick(morning, random.Random(0))
    assert standup["enqueued"] == 1
    assert Conversation.objects.get().format == "standup"
    assert schedule_tick(morning, random.Random(0))["reason"] == "slot already handled"
    request_conversation("debate", ["devops", "security"], "x", source="schedule")

    later = schedule_tick(morning.replace(hour=18), random.Random(0))
    assert later == {"enqueued": 0, "reason": "daily cap 2 reached"}


def test_tense_pairs_meet_for_conflict_resolution(crew):
    Relationship.objects.create(agent_a_id="devops", agent_b_id="security", affinity=0.2)

    assert pick_participants("conflict_resolution", 2, random.Random(0)) == [
        "devops",
        "security",
    ]


def test_the_api_requests_a_conversation(crew, client, settings):
    settings.OPS_API_TOKEN = "tok-0123456789" * 3
    auth = {"Authorization": "Bearer " + "tok-0123456789" * 3}
    body = {"format": "debate", "participants": ["devops", "security"], "topic": "Fridays"}

    made = client.post(
        "/api/ops/conversations", body, content_type="application/json", headers=auth
    )
    bad = client.post(
        "/api/ops/conversations",
        body | {"format": "duel"},
        content_type="application/json",
        headers=auth,
    )

    assert made.status_code == 201
    assert Conversation.objects.get(pk=made.json()["id"]).status == "queued"
    assert bad.status_code == 400 and "unknown format" in bad.json()["errors"]["body"][0]


def test_bootstrap_seeds_every_pair_with_the_rosters_affinities():
    from console.bootstrap import bootstrap

    bootstrap(1, "tutorial-six", actor="t")

    assert Relationship.objects.count() == 15
    boss_rebel = Relationship.objects.get(agent_a_id="opus", agent_b_id="twitter-alt")
    assert boss_rebel.affinity == Decimal("0.30")
    assert Relationship.objects.get(agent_a_id="creator", agent_b_id="opus").affinity == Decimal(
        "0.50"
    )


def test_a_slot_that_does_not_roll_is_recorded_and_rolled_only_once(crew):
    night = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # one_on_one, 40 %

    class Unlucky(random.Random):
        def random(self):
            return 0.99

    first = schedule_tick(night, Unlucky())
    again = schedule_tick(night, random.Random(0))

    assert first == {"enqueued": 0, "reason": "one_on_one slot not rolled (40%)"}
    assert again["reason"] == "slot already handled"
    assert Conversation.objects.get().status == "skipped"


def test_the_heartbeat_recovers_a_conversation_stuck_running(crew):
    from datetime import timedelta

    from opscore.heartbeat import run_heartbeat
    from opscore.standing_orders import db_now
    from roundtable.lifecycle import claim_conversation

    request_conversation("debate", ["devops", "security"], "x", source="schedule")
    stuck = claim_conversation("dead-worker")
    Conversation.objects.filter(pk=stuck.pk).update(lease_expires_at=db_now() - timedelta(1))

    run_heartbeat("test")

    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == ("failed", "worker dead-worker stopped before finishing")


def test_an_action_item_for_an_unknown_agent_is_dropped_with_the_reason(crew):
    conversation = Conversation.objects.create(
        format="standup", topic="t", participants=["devops", "security"]
    )
    item = {"agent": "nobody", "title": "Do a thing", "step_kind": "analyze"}

    kept = apply_distillation(
        conversation, Distillation(memories=[], pairwise_drift=[], action_items=[item])
    )

    assert kept["action_items"] == 0
    assert kept["dropped"] == ["action 0: nobody did not take part in this conversation"]


def test_speaker_weights_are_the_tutorials_exactly():
    class NoJitter:
        def uniform(self, low, high):
            return 0.0

    spoken = Counter({"a": 3, "b": 1})

    def close(x, y):
        return 0.9

    weight = speaker_weight("b", "a", spoken, close, NoJitter())
    assert weight == pytest.approx(1.0 + 0.9 * 0.6 - (1 / 4) * 0.4)
    assert speaker_weight("a", "a", spoken, close, NoJitter()) == 0.0


@pytest.mark.parametrize(
    ("tension", "expected"),
    [
        (0.7, {"challenge": 0.2, "critical": 0.8}),
        (0.1, {"supportive": 0.4, "agreement": 0.6}),
        (0.45, {"neutral": 1.0}),
    ],
)
def test_tension_picks_the_interaction_in_the_tutorials_proportions(tension, expected):
    rand = random.Random(4)
    drawn = Counter(interaction_for(tension, rand) for _ in range(4000))

    assert set(drawn) == set(expected)
    for kind, share in expected.items():
        assert drawn[kind] / 4000 == pytest.approx(share, abs=0.03)


def test_a_mentoring_pair_answers_each_other_supportively():
    """High affinity (a mentor and a junior): the junior answers the mentor most, kindly."""
    table = {("junior", "mentor"): 0.9}

    def affinity(x, y):
        return table.get(tuple(sorted((x, y))), 0.3)

    rand, answers = random.Random(2), Counter()
    for _ in range(2000):
        answers[
            next_speaker(["mentor", "junior", "peer"], "mentor", Counter(), affinity, rand)
        ] += 1
    tone = Counter(interaction_for(1 - affinity("junior", "mentor"), rand) for _ in range(500))

    assert answers["junior"] > answers["peer"] * 1.2
    assert set(tone) == {"supportive", "agreement"}


def test_an_action_item_for_an_agent_who_did_not_take_part_is_dropped_with_the_reason(crew):
    """A memory or a drift the reply gives someone who was not at the table is dropped; an
    action item was made a proposal of that agent's, work in its name it never discussed."""
    conversation = request_conversation(
        "war_room", ["coordinator", "devops", "security"], "x", source="schedule"
    )
    items = [
        {"agent": "research", "title": "Dig into it", "step_kind": "analyze"},
        {"agent": "devops", "title": "Fix it", "step_kind": "analyze"},
    ]

    kept = apply_distillation(
        conversation, Distillation(memories=[], pairwise_drift=[], action_items=items)
    )

    assert kept["action_items"] == 1
    assert kept["dropped"] == ["action 0: research did not take part in this conversation"]
    assert list(Proposal.objects.values_list("agent_id", flat=True)) == ["devops"]


def test_the_night_slots_leave_room_in_the_daily_cap_for_the_morning_standup(crew, settings, clock):
    """README: the morning standup always happens. With the night's slots all rolling, they
    took the whole cap and the 06:00 standup was refused as 'daily cap reached'."""
    settings.TIME_ZONE = "UTC"  # the slots' days are UTC's here: test_schedule_time_zone for others
    clock.midday()  # the night's conversations are one day's when the cap counts them
    set_policy("roundtable_policy", {"enabled": True, "max_daily_conversations": 2}, actor="t")
    night = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)

    class Lucky(random.Random):
        def random(self):
            return 0.0

    ticks = [schedule_tick(night.replace(hour=hour), Lucky(1)) for hour in range(7)]

    assert ticks[0]["enqueued"] == 1
    assert ticks[1] == {
        "enqueued": 0,
        "reason": "daily cap 2 reached (one is kept for the 06:00 standup)",
    }
    assert ticks[6]["enqueued"] == 1
    assert Conversation.objects.get(slot_hour=6).format == "standup"
