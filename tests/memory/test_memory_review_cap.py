"""The memory review judges at most its cap of due memories a run, and expires at most its cap
of lapsed ones a call; a run cut short says how many still wait, in its counts (the order run's
evidence) and in a row of its own."""

from datetime import timedelta

import pytest

from memory.models import Memory
from memory.upkeep import expire_lapsed, review_due_memories
from opscore.db import db_now
from opscore.models import Event

pytestmark = pytest.mark.django_db


def due_memories(agent, count: int, date: str = "next_review_at") -> None:
    for n in range(count):
        Memory.objects.create(
            agent=agent,
            type="lesson",
            content=f"lesson {n}",
            source_trace_id=f"lesson {n}",
            confidence="0.8",
            **{date: db_now() - timedelta(minutes=1)},
        )


def test_it_records_a_run_cut_short_by_its_cap(agent):
    due_memories(agent, 3)

    counts = review_due_memories(limit=2)

    assert (sum(v for k, v in counts.items() if k != "deferred"), counts["deferred"]) == (2, 1)
    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "review_due_memories", "limit": 2, "waiting": 1}


def test_a_run_that_reviews_every_due_memory_records_no_cap(agent):
    due_memories(agent, 2)

    assert "deferred" not in review_due_memories(limit=2)
    assert not Event.objects.filter(kind="sweep.capped").exists()


def test_expiring_lapsed_memories_cut_short_by_its_cap_leaves_a_row(agent):
    due_memories(agent, 3, date="expires_at")

    assert expire_lapsed(Memory.objects.all(), limit=2) == 2

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "expire_lapsed", "limit": 2, "waiting": 1}


def test_the_next_call_expires_the_rest_and_leaves_no_row(agent):
    due_memories(agent, 2, date="expires_at")

    assert expire_lapsed(Memory.objects.all(), limit=2) == 2

    assert not Event.objects.filter(kind="sweep.capped").exists()
    assert not Memory.objects.filter(status="active").exists()
