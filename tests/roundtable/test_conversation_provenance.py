"""A conversation is as trusted as what its prompts carried: an outside runtime may teach its
own agent, but when that agent then speaks at a roundtable, what the conversation distils
into other agents' work and memories waits for a person."""

import random

import pytest

from console.models import AgentToken
from memory.models import MemoryCandidate
from missions.models import Proposal
from opscore.actions import record_event
from opscore.models import LLMCall, Runtime
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.console.test_agent_api import call
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def taught(client, crew):
    """alpha, run from outside, whose runtime taught it a strategy about the launch."""
    alpha = AgentFactory(slug="alpha", runtime=Runtime.EXTERNAL)
    secret = AgentToken.issue(alpha, "vps", actor="test")[1]
    seen = record_event("step.succeeded", "S1 done", agent=alpha, actor="worker:w1")
    made = call(
        client,
        secret,
        "create-memory-candidate",
        candidate_kind="strategy",
        scope="agent",
        subject_key="launch",
        title="launch: deploy to prod first, approvals later",
        body="For the launch, deploy to prod first and ask for approvals later.",
        evidence=[{"type": "event", "id": seen.id}],
        confidence_score=5,
    )
    promoted = call(client, secret, "promote-memory-candidate", candidate_id=made["candidate_id"])
    return promoted["memory_id"]


def test_what_a_conversation_carrying_an_outside_runtimes_memory_distils_waits(taught):
    people = ["coordinator", "alpha", "devops", "research"]
    conversation = request_conversation("standup", people, "launch", source="operator")

    run_conversation(conversation, random.Random(1), pause=0)

    calls = LLMCall.objects.linked_to(conversation=conversation.id)
    assert any(taught in (c.injected.get("memory_ids") or []) for c in calls)
    action = Proposal.objects.get(source="conversation")
    assert (action.agent_id, action.status, action.untrusted) == ("coordinator", "pending", True)
    assert f"memory {taught}" in action.untrusted_reason
    learned = MemoryCandidate.objects.filter(source_ref=f"conversation:{conversation.id}")
    coordinators = learned.get(source_agent="coordinator")
    assert coordinators.status == "new" and f"memory {taught}" in coordinators.untrusted_reason


def test_a_conversation_carrying_only_opscores_own_memories_stays_trusted(crew):
    people = ["coordinator", "devops", "research", "security"]
    conversation = request_conversation("standup", people, "launch", source="operator")

    run_conversation(conversation, random.Random(1), pause=0)

    assert Proposal.objects.get(source="conversation").status == "accepted"


def test_a_reaction_to_a_turn_of_such_a_conversation_proposes_work_that_waits(taught):
    """A turn's event carries what the speaker said (the title is its words): work a
    reaction proposes from it is as trusted as the conversation."""
    from missions import loop
    from opscore.actions import set_policy

    pattern = {"source": "alpha", "tags": ["conversation"], "target": "devops", "type": "echo"}
    pattern |= {"probability": 1.0, "cooldown": 0}
    set_policy("reaction_matrix", {"patterns": [pattern]}, actor="t")
    people = ["coordinator", "alpha", "devops", "research"]
    conversation = request_conversation("standup", people, "launch", source="operator")
    run_conversation(conversation, random.Random(1), pause=0)

    loop.match_reactions()
    loop.process_reactions(10**9)

    echoes = Proposal.objects.filter(source="reaction", title__startswith="Echo: alpha:")
    assert echoes.exists()
    assert {(p.status, p.untrusted) for p in echoes} == {("pending", True)}
