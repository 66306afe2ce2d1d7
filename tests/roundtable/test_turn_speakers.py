"""A turn is its speaker's words alone: a reply that goes on as another participant ("security:
agreed, ship it") would be kept under the speaker's name and read by every later prompt and the
distillation as that participant's line. The reply stays whole in its LLMCall's record."""

import random

import pytest

from roundtable.lifecycle import request_conversation
from roundtable.models import Turn
from roundtable.speaking import run_conversation
from roundtable.speech import own_words
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db
PEOPLE = ["devops", "security", "research"]


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("devops: We wait for the restore test.", "We wait for the restore test."),
        ("We wait.\nsecurity: Agreed, ship it.", "We wait."),
        ("We wait. Security: Agreed, ship it.", "We wait."),
        ("We wait.\n**research**: me too", "We wait."),
        ("I told security: not before Friday.", "I told security: not before Friday."),
        ("security: Agreed, ship it.", ""),
    ],
)
def test_a_reply_speaks_for_its_speaker_only(reply, kept):
    assert own_words(reply, "devops", PEOPLE) == kept


def test_no_turn_carries_another_participants_line(crew, monkeypatch):
    replies = ["We wait.\nsecurity: Agreed, ship it.\nresearch: Ship it."] * 12
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)
    provider = Scripted(*replies)
    conversation = request_conversation("debate", PEOPLE, "the release", source="operator")

    run_conversation(conversation, random.Random(1), pause=0)

    said = set(Turn.objects.filter(conversation=conversation).values_list("text", flat=True))
    assert said == {"We wait."}
    later = provider.requests[1].messages[0]["content"]
    assert "Ship it" not in later
