"""One bad turn is that turn's failure, not the conversation's: a model answering one turn
unusably (not JSON, the wrong shape, over the limit) fails that turn with its one-line reason
(the call's row and a conversation.turn_failed event), and the floor passes to the next speaker.
A model that keeps answering so ends the conversation, saying why, with the turns already said
kept and shown."""

import random

import pytest

from opscore.llm import LLMReplyError, OfflineProvider
from opscore.models import Event, LLMCall
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.opscore.test_llm_faults import one_line

pytestmark = pytest.mark.django_db
NOT_JSON = "ollama: malformed reply: not JSON (Expecting value: line 1 column 1 (char 0))"


class BadAt(OfflineProvider):
    """The offline provider, except that its turn calls numbered in `bad` (from 1) come back
    unusable."""

    def __init__(self, *bad):
        self.bad, self.turn_calls = set(bad), 0

    def complete(self, request):
        if "Reply in one short line" in request.messages[-1]["content"]:
            self.turn_calls += 1
            if self.turn_calls in self.bad:
                raise LLMReplyError(NOT_JSON, input_tokens=10, output_tokens=3, model="m")
        return super().complete(request)


def talk(monkeypatch, provider):
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)
    conversation = request_conversation("debate", ["devops", "security"], "x", source="operator")
    return run_conversation(conversation, random.Random(1), pause=0)


def failed_turns(conversation):
    return Event.objects.filter(
        kind="conversation.turn_failed", payload__conversation_id=conversation.id
    ).order_by("id")


def test_a_bad_reply_fails_its_turn_and_the_next_speaker_goes_on(crew, monkeypatch):
    conversation = talk(monkeypatch, BadAt(2))

    conversation.refresh_from_db()
    assert conversation.status == "succeeded", conversation.error
    turns = list(conversation.turns.order_by("index"))
    assert [t.index for t in turns] == list(range(len(turns))) and len(turns) >= 2
    [failed] = failed_turns(conversation)
    assert failed.payload["index"] == 1 and one_line(failed.summary)
    assert failed.summary == f"{failed.payload['speaker']}'s turn 2 failed: {NOT_JSON}"
    assert turns[1].speaker_id != failed.payload["speaker"]  # the floor passed on
    bad = LLMCall.objects.filter(purpose="roundtable.turn", outcome="bad_reply")
    assert [c.error for c in bad] == [NOT_JSON]


def test_bad_replies_in_a_row_end_it_saying_why_and_keep_what_was_said(crew, monkeypatch, client):
    conversation = talk(monkeypatch, BadAt(3, 4))

    conversation.refresh_from_db()
    assert conversation.status == "failed"
    assert conversation.error == (
        f"2 turns in a row failed (the last: {NOT_JSON}); the 2 turns said before are kept"
    )
    assert conversation.turns.count() == 2
    assert [e.payload["index"] for e in failed_turns(conversation)] == [2, 2]
    page = client.get(f"/stage/conversations/{conversation.id}").content.decode()
    assert page.count("turn 3 failed: ollama: malformed reply: not JSON") == 2
    assert "2 turns in a row failed" in page
