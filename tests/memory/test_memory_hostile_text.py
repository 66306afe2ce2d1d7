"""What untrusted text (a chat, a model's reply, an outside runtime) puts into a memory is held
to the candidate's rules on every path: no secret kept, no hidden character, no text past the
schema's limits, and no reach into memories it could not read."""

from decimal import Decimal

import pytest

from memory.actions import propose_and_review
from memory.models import Memory
from opscore.actions import record_event

pytestmark = pytest.mark.django_db

TOKEN = "opsa_AbCd0123456789xyzWvuts"


def lesson(agent, **fields) -> dict:
    event = record_event("step.failed", "x", agent=agent)
    return {
        "agent": agent.slug,
        "kind": "lesson",
        "title": "Deploys need the API token",
        "body": "Deploys fail without the token.",
        "confidence": 0.8,
        "evidence": [{"type": "event", "id": event.id}],
    } | fields


def test_a_secret_in_what_an_agent_learned_is_never_kept_in_the_memory(agent, settings):
    """A conversation's distillation copied the API token a speaker pasted into the memory it
    made: every later prompt carried it to the model provider."""
    settings.OPS_API_TOKEN = "sk-live-0123456789abcdef"
    said = f"use Bearer sk-live-0123456789abcdef or {TOKEN} to deploy"

    _, review = propose_and_review(
        lesson(agent, title=f"Deploy with {TOKEN}", body=said, tags=[TOKEN]),
        reviewer="system:roundtable",
    )

    memory = Memory.objects.get(pk=review.memory_id)
    kept = f"{memory.title} {memory.content} {memory.tags} {memory.candidate.body}"
    assert "0123456789abcdef" not in kept and "0123456789xyzW" not in kept
    assert memory.content == "use Bearer [redacted] or opsa_AbCd[redacted] to deploy"
    assert memory.confidence == Decimal("0.80")
