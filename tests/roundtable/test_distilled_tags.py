"""A distilled memory's tags are the model's words: it may label what it learned, never claim
the markers other parts of Opscore read as their own (an outcome's lesson, the offline
stand-ins)."""

import pytest

from memory.initiative import ineligible
from memory.models import Memory, MemoryCandidate
from memory.outcomes import lessons_today
from opscore.actions import set_policy
from opscore.db import db_now
from opscore.models import Agent, Policy
from roundtable.distillation import Distillation, apply_distillation
from roundtable.lifecycle import request_conversation

pytestmark = pytest.mark.django_db


def test_a_chat_cannot_pass_its_lessons_off_as_learned_from_outcomes(crew):
    """A distillation tagging its lessons `metric-lesson` made the agent eligible to propose
    its own work (initiative asks for a lesson learned from an outcome) and used up the day's
    outcome lessons, so the real ones from its posts were not learned that day."""
    set_policy("initiative_policy", {"enabled": True, "min_memories": 1}, actor="test")
    talk = request_conversation("watercooler", ["devops", "security"], "disks", source="schedule")
    claimed = ["metric-lesson", "mission-outcome", "offline", "disks"]
    memories = [
        {"agent": "devops", "type": "lesson", "content": f"Disks fill up {n}", "confidence": 0.9,
         "tags": claimed}
        for n in range(3)
    ]  # fmt: skip

    apply_distillation(talk, Distillation(memories=memories, pairwise_drift=[], action_items=[]))

    kept = Memory.objects.filter(agent="devops")
    assert kept.count() == 3 and all(memory.tags == ["disks"] for memory in kept)
    assert lessons_today("devops") == 0
    devops, policy = Agent.objects.get(slug="devops"), Policy.objects.value("initiative_policy")
    assert ineligible(devops, policy, db_now()) == "no lesson learned from an outcome yet"


@pytest.mark.parametrize("kind", ["decision", "constraint", "fact", "playbook"])
def test_a_chat_keeps_only_the_kinds_of_memory_it_was_asked_for(crew, kind):
    """The distillation asks for insights, patterns, strategies, preferences and lessons; a
    reply naming a decision or a constraint was kept as one, with the weight those kinds carry
    (one value a subject, superseding what the agent held), from chat alone."""
    talk = request_conversation("debate", ["devops", "security"], "x", source="schedule")
    said = {"agent": "devops", "type": kind, "content": "Deploy on Fridays", "confidence": 0.9}

    kept = apply_distillation(
        talk, Distillation(memories=[said], pairwise_drift=[], action_items=[])
    )

    assert kept["memories"] == 0 and not Memory.objects.exists()
    assert not MemoryCandidate.objects.exists()
    (dropped,) = kept["dropped"]
    assert dropped.startswith("memory 0: ") and kind in dropped
