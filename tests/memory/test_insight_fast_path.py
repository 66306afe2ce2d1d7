"""The heartbeat's insight fast path (memory.learning.promote_insights): what it leaves alone
it leaves without a trace every beat — a candidate waiting for a person, frozen promotions —
and those never stand in the way of a trusted insight behind them. A beat cut short by its
batch says how many wait, in its counts and in a row of its own."""

import time
from decimal import Decimal

import pytest

from memory.gate import hold
from memory.learning import FAST_PATH_BATCH, promote_insights
from memory.models import MemoryCandidate, MemoryReview
from opscore.actions import record_event
from opscore.models import Event
from opscore.overrides import apply_override

pytestmark = pytest.mark.django_db
FAR = time.monotonic() + 3600


def strong_insight(agent, title, **fields) -> MemoryCandidate:
    event = record_event("step.failed", "export slow", agent=agent)
    defaults = {
        "source_agent": agent,
        "kind": "insight",
        "title": title,
        "body": f"{title}: the exporter stalls the weekly export.",
        "evidence": [{"type": "event", "id": event.id}],
        "confidence": Decimal("0.90"),
    }
    return MemoryCandidate.objects.create(**(defaults | fields))


def test_insights_waiting_for_a_person_neither_block_the_fast_path_nor_add_rows_each_beat(agent):
    for n in range(FAST_PATH_BATCH):
        strong_insight(agent, f"read on a crawled page {n}", untrusted_reason="cites artifact 1")
    ours = strong_insight(agent, "Exports stall on Fridays")

    promote_insights(FAR)
    promote_insights(FAR)

    assert MemoryCandidate.objects.get(pk=ours.pk).status == "promoted"
    waiting = MemoryCandidate.objects.filter(status="new")
    assert waiting.count() == FAST_PATH_BATCH  # still for a person, as the gate's run leaves them
    assert not MemoryReview.objects.filter(candidate__in=waiting).exists()


def test_frozen_promotions_leave_the_fast_path_waiting_without_a_row_each_beat(agent):
    apply_override("freeze_promotions", "memory", reason="audit of the store", actor="test")
    ours = strong_insight(agent, "Exports stall on Fridays")

    for _ in range(3):
        promote_insights(FAR)

    assert MemoryCandidate.objects.get(pk=ours.pk).status == "new"
    assert not MemoryReview.objects.exists()  # the override says why; the run records it


def test_a_fast_path_cut_short_by_its_batch_leaves_a_row_and_the_next_beat_takes_the_rest(
    agent, monkeypatch
):
    monkeypatch.setattr("memory.learning.FAST_PATH_BATCH", 2)
    for n in range(3):
        strong_insight(agent, f"Exports stall on day {n}")

    assert promote_insights(FAR) == {"promote": 2, "deferred": 1}

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "insight_fast_path", "limit": 2, "waiting": 1}
    assert promote_insights(FAR) == {"promote": 1}
    assert not MemoryCandidate.objects.filter(status="new").exists()


def test_held_reviews_cut_short_by_the_batch_leave_a_row(agent, monkeypatch):
    monkeypatch.setattr("memory.learning.FAST_PATH_BATCH", 2)
    for n in range(3):
        held = strong_insight(agent, f"Exports stall on day {n}", kind="lesson")
        hold(held, "system:memory-gate", "held: lane memory paused (queue)")

    assert promote_insights(FAR)["held"] == {"promote": 2, "deferred": 1}

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "review_held_candidates", "limit": 2, "waiting": 1}
    assert promote_insights(FAR)["held"] == {"promote": 1}
