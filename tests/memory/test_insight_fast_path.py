"""The heartbeat's insight fast path (memory.learning.promote_insights): what it leaves alone
it leaves without a trace every beat — a candidate waiting for a person, frozen promotions —
and those never stand in the way of a trusted insight behind them."""

import time
from decimal import Decimal

import pytest

from memory.learning import FAST_PATH_BATCH, promote_insights
from memory.models import MemoryCandidate, MemoryReview
from opscore.actions import record_event
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
