"""A participant disabled after its conversation was queued takes no part: it does not speak,
no model is called as it, and nothing is distilled for it. Too few left for the format, and the
conversation fails with the reason on the row."""

import random

import pytest

from memory.models import MemoryCandidate
from opscore.models import Event, LLMCall
from opscore.overrides import apply_override
from roundtable.formats import FORMATS
from roundtable.lifecycle import claim_conversation, request_conversation
from roundtable.models import Conversation, Turn
from roundtable.speaking import run_conversation
from roundtable.tasks import run_next_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_pause(settings):
    settings.OPS_TURN_PAUSE_SECONDS = 0


def disable(slug: str):
    return apply_override("disable-agent", slug, reason="paging storm", actor="operator:test")


def test_a_conversation_left_too_small_fails_with_the_reason_and_nobody_speaks(crew):
    queued = request_conversation("debate", ["devops", "security"], "x", source="operator")
    held = disable("devops")

    result = run_next_conversation()

    conversation = Conversation.objects.get(pk=queued.id)
    assert result == {"ran": queued.id, "status": "failed"}
    assert conversation.error == (
        f"devops is disabled (override {held.id}: paging storm); "
        "a debate needs 2-3 agents and 1 is left"
    )
    assert not Turn.objects.exists() and not LLMCall.objects.exists()
    assert Event.objects.filter(kind="conversation.failed").count() == 1


def test_the_others_talk_on_without_the_disabled_participant(crew):
    queued = request_conversation(
        "debate", ["devops", "security", "research"], "x", source="operator"
    )
    disable("devops")

    run_next_conversation()

    conversation = Conversation.objects.get(pk=queued.id)
    speakers = set(conversation.turns.values_list("speaker_id", flat=True))
    assert conversation.status == "succeeded" and speakers == {"security", "research"}
    assert not LLMCall.objects.filter(agent="devops").exists()
    assert not MemoryCandidate.objects.filter(source_agent="devops").exists()
    assert conversation.participants == ["security", "research"]
    excused = Event.objects.get(kind="conversation.participants_excused")
    assert excused.payload["excused"] == ["devops"]


def test_a_participant_disabled_mid_conversation_says_nothing_more(crew):
    queued = request_conversation(
        "debate", ["devops", "security", "research"], "x", source="operator"
    )
    conversation = claim_conversation("w1")
    turns = []

    def after(turn):
        turns.append(turn.speaker_id)
        if len(turns) == 1:
            disable("devops")

    run_conversation(conversation, random.Random(3), pause=0, on_turn=after)

    assert "devops" not in turns[1:] and len(turns) > 1
    assert Conversation.objects.get(pk=queued.id).status == "succeeded"


def test_a_conversation_left_too_small_mid_way_fails_with_the_reason(crew):
    queued = request_conversation("debate", ["devops", "security"], "x", source="operator")
    conversation = claim_conversation("w1")
    turns = []

    def after(turn):
        turns.append(turn.speaker_id)
        if len(turns) == 1:
            disable("security" if turn.speaker_id == "devops" else "devops")

    run_conversation(conversation, random.Random(3), pause=0, on_turn=after)

    failed = Conversation.objects.get(pk=queued.id)
    assert len(turns) == 1 and failed.status == "failed"
    assert "a debate needs 2-3 agents and 1 is left" in failed.error


def test_a_participant_disabled_after_the_last_turn_gets_nothing_distilled(crew):
    """The pause after the last turn and the distillation's call leave a window: the call was
    made as the disabled agent (the first participant) and memories were kept for it."""
    queued = request_conversation(
        "debate", ["devops", "security", "research"], "x", source="operator"
    )
    conversation = claim_conversation("w1")
    last = random.Random(3).randint(*FORMATS["debate"].turns) - 1

    def after(turn):
        if turn.index == last:
            disable("devops")

    run_conversation(conversation, random.Random(3), pause=0, on_turn=after)

    distilled = LLMCall.objects.get(purpose="roundtable.distill")
    assert Conversation.objects.get(pk=queued.id).status == "succeeded"
    assert distilled.agent_id != "devops"
    assert not MemoryCandidate.objects.filter(source_agent="devops").exists()
    assert MemoryCandidate.objects.filter(source_agent="security").exists()
