"""Freezing promotions while the gate is deciding a batch: the gate read the switch once, at
the start of its run, and went on promoting every candidate left in the batch after the freeze
took hold. Each decision asks the switch again, so the freeze stops the rest."""

import pytest

from memory import gate
from memory.actions import propose_candidate
from memory.models import Memory, MemoryCandidate
from opscore.actions import record_event
from opscore.overrides import apply_override

pytestmark = pytest.mark.django_db


def candidate(evidence, n: int):
    data = {
        "agent": "devops",
        "kind": "lesson",
        "title": f"lesson {n} about topic{n}",
        "body": f"distinct lesson number {n} about topic{n} seen on db-{n}",
        "confidence": 0.8,
        "evidence": evidence,
    }
    return propose_candidate(data)[0]


def two_waiting_then_switched(agent, monkeypatch, override: str, target: str):
    """Two candidates; the operator throws the switch once the gate promoted the first."""
    evidence = [{"type": "event", "id": record_event("step.failed", "disk full", agent=agent).id}]
    first, second = candidate(evidence, 1), candidate(evidence, 2)
    promote, thrown = gate.promote, []

    def promote_then_switch(*args, **kwargs):
        review = promote(*args, **kwargs)
        if not thrown:
            thrown.append(apply_override(override, target, reason="audit", actor="operator:a"))
        return review

    monkeypatch.setattr(gate, "promote", promote_then_switch)
    return first, second


def test_a_freeze_thrown_during_a_gate_run_stops_the_rest_of_its_batch(agent, monkeypatch):
    first, second = two_waiting_then_switched(agent, monkeypatch, "freeze_promotions", "memory")

    assert gate.review_candidates() == {"promote": 1, "skipped": 1}

    assert MemoryCandidate.objects.get(pk=first.pk).status == "promoted"
    assert MemoryCandidate.objects.get(pk=second.pk).status == "new"
    assert Memory.objects.count() == 1


def test_a_memory_lane_pause_thrown_during_a_gate_run_holds_the_rest_of_its_batch(
    agent, monkeypatch
):
    """The gate's run is the memory lane's work: a pause (queue) thrown while it decided a
    batch let it promote the rest. They wait, new, for the next run after the lift."""
    first, second = two_waiting_then_switched(agent, monkeypatch, "pause-lane", "memory")

    assert gate.review_candidates() == {"promote": 1, "held": 1}

    assert MemoryCandidate.objects.get(pk=first.pk).status == "promoted"
    assert MemoryCandidate.objects.get(pk=second.pk).status == "new"
