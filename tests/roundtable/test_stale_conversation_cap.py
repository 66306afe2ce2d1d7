"""Recovery of stale conversations fails at most its cap a pass: a backlog left by a machine
that died holding many cannot stretch one heartbeat duty without end, and a pass cut short
says how many still wait, in the beat's counts and in a row of its own."""

from datetime import UTC, datetime, timedelta

import pytest

from opscore.models import Event
from roundtable.lifecycle import (
    claim_conversation,
    recover_stale_conversations,
    request_conversation,
)
from roundtable.models import Conversation

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CREW = ["coordinator", "devops", "research", "security"]


def left_running(count: int, clock) -> None:
    clock.freeze(NOON)
    for worker in range(count):
        request_conversation("standup", CREW, f"topic {worker}", source="operator")
        claim_conversation(f"host:{worker + 1}")
    clock.freeze(NOON + timedelta(minutes=20))  # every lease ran out


def test_it_recovers_at_most_its_cap_and_counts_what_waits(crew, clock):
    left_running(3, clock)

    assert recover_stale_conversations(limit=2) == {"recovered": 2, "deferred": 1}
    assert Conversation.objects.filter(status="running").count() == 1
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "recover_stale_conversations", "limit": 2, "waiting": 1}


def test_the_next_pass_recovers_the_rest_without_a_cap_row(crew, clock):
    left_running(3, clock)
    recover_stale_conversations(limit=2)

    assert recover_stale_conversations(limit=2) == {"recovered": 1}
    assert Event.objects.filter(kind="sweep.capped").count() == 1
