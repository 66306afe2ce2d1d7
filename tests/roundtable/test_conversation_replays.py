"""Replaying a conversation that did not end as planned: a turn whose call failed was never
said, and a conversation that stopped there was never distilled."""

import random

import pytest

from opscore.llm import LLMError, LLMReply
from opscore.models import LLMCall
from opscore.replay import readable
from roundtable.lifecycle import request_conversation
from roundtable.replay import replay_conversation
from roundtable.speaking import run_conversation

pytestmark = pytest.mark.django_db


class RefusesOnce:
    """A model that answers every call but the `n`th, which it refuses."""

    name = "scripted"

    def __init__(self, n: int):
        self.n, self.asked = n, 0

    def model_for(self, tier):
        return "scripted"

    def complete(self, request):
        self.asked += 1
        if self.asked == self.n:
            raise LLMError("scripted: the model refused")
        return LLMReply(f"line {self.asked}", 1, 1, "scripted", "scripted")


def test_a_conversation_that_failed_on_a_turn_replays_identically(crew, monkeypatch):
    """Its failed turn's call was replayed as a distillation that never happened: the report
    diffed a distillation prompt against the turn's and said today's code ended the
    conversation distill_failed, though nothing had changed."""
    model = RefusesOnce(3)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    talk = request_conversation("standup", [a.slug for a in crew], "the week", source="operator")
    run_conversation(talk, random.Random(1), pause=0)
    talk.refresh_from_db()
    assert (talk.status, talk.turns.count()) == ("failed", 2)
    failed = LLMCall.objects.linked_to(conversation=talk.id).order_by("id").last()

    run = replay_conversation(talk.id)

    assert run.outcome == "identical", readable(run)
    assert [c["purpose"] for c in run.report["calls"]] == ["roundtable.turn"] * 2
    [skipped] = run.report["skipped"]
    assert skipped["call"] == failed.id and "never said" in skipped["why"]
    assert f"not replayed: call {failed.id} (roundtable.turn)" in readable(run)
