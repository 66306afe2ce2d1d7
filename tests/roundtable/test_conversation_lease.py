"""A conversation's lease follows it: each turn renews it, so a long conversation is never
recovered as stale while its worker still speaks; and a worker that lost its lease (recovery
failed the conversation) writes nothing more — its close is refused and recorded."""

import os
import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from opscore.models import Event
from roundtable.lifecycle import (
    claim_conversation,
    recover_stale_conversations,
    request_conversation,
)
from roundtable.models import Conversation
from roundtable.speaking import run_conversation

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def claimed(worker="host:1") -> Conversation:
    crew = ["coordinator", "devops", "research", "security"]
    request_conversation("standup", crew, "x", source="operator")
    return claim_conversation(worker)


def test_every_turn_renews_the_lease_so_recovery_leaves_a_live_conversation_alone(crew, clock):
    clock.freeze(NOON)
    conversation = claimed()
    recovered = []

    def each_turn_takes_ten_minutes(turn):
        clock.freeze(NOON + timedelta(minutes=10 * (turn.index + 1)))
        recovered.append(recover_stale_conversations()["recovered"])

    done = run_conversation(
        conversation, random.Random(1), pause=0, on_turn=each_turn_takes_ten_minutes
    )

    assert done.status == "succeeded"
    assert len(recovered) >= 6 and set(recovered) == {0}


def test_a_worker_that_lost_its_lease_cannot_close_the_conversation(crew, clock):
    clock.freeze(NOON)
    conversation = claimed()
    clock.freeze(NOON + timedelta(minutes=20))
    assert recover_stale_conversations() == {"recovered": 1}  # the worker looked dead

    done = run_conversation(conversation, random.Random(1), pause=0)

    assert done.status == "failed"
    assert done.error == "worker host:1 stopped before finishing"
    assert not done.turns.exists()
    refused = Event.objects.get(kind="conversation.late_write_refused")
    assert refused.actor == "worker:host:1" and "failed" in refused.summary


def test_a_conversation_held_from_the_command_line_has_a_lease_recovery_can_end(
    crew, clock, monkeypatch
):
    """Before: the command set `running` with no owner and no expiry, so if it was killed the
    conversation stayed running for ever (neither recovery nor the start-up sweep saw it)."""
    clock.freeze(NOON)
    seen = []

    def between_turns(seconds):
        seen.append(Conversation.objects.values_list("lease_owner", "lease_expires_at").get())

    monkeypatch.setattr("roundtable.speaking.wait_between_turns", between_turns)
    args = ["--format", "debate", "--agents", "devops,security", "--topic", "x", "--pause", "1"]
    call_command("converse", *args, stdout=StringIO())

    owner, expires = seen[0]
    assert owner.endswith(f":{os.getpid()}") and expires == NOON + timedelta(minutes=15)
    assert Conversation.objects.get().status == "succeeded"


def test_a_worker_cannot_claim_a_conversation_the_command_line_is_holding(crew, monkeypatch):
    """converse queued its conversation, then started it: a worker claiming in between took
    it, and the command spoke on anyway under that worker's lease, two speakers at once."""
    from roundtable.management.commands import converse

    claimed_by_worker = []

    def queued_then_a_worker_claims(*args, **kwargs):
        conversation = request_conversation(*args, **kwargs)
        claimed_by_worker.append(claim_conversation("host:other"))
        return conversation

    monkeypatch.setattr(converse, "request_conversation", queued_then_a_worker_claims)
    args = ["--format", "debate", "--agents", "devops,security", "--topic", "x", "--pause", "0"]
    call_command("converse", *args, stdout=StringIO())

    assert claimed_by_worker == [None]
    conversation = Conversation.objects.get()
    assert conversation.status == "succeeded" and conversation.source == "operator"
