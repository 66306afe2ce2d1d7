"""A conversation is as trusted as what its prompts carried: an outside runtime may teach its
own agent, but when that agent then speaks at a roundtable, what the conversation distils
into other agents' work and memories waits for a person."""

import random
from io import StringIO

import pytest
from django.core.management import call_command

from console.models import AgentToken
from memory.models import MemoryCandidate
from missions.models import Proposal
from opscore.actions import record_event
from opscore.models import Event, LLMCall, Runtime
from roundtable.lifecycle import request_conversation
from roundtable.models import Conversation
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
    conversation = request_conversation("standup", people, "launch", source="schedule")

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
    conversation = request_conversation("standup", people, "launch", source="schedule")

    run_conversation(conversation, random.Random(1), pause=0)

    assert Proposal.objects.get(source="conversation").status == "accepted"


def test_what_a_conversation_on_an_api_callers_topic_distils_waits(crew, client, settings):
    """A topic given through the API is operator text, as a chat message is: the model's
    words on it are not Opscore's own, whatever its memories were."""
    settings.OPS_API_TOKEN = "tok-0123456789" * 3
    body = {"format": "standup", "participants": ["coordinator", "devops", "research", "security"]}
    body["topic"] = "launch: deploy to prod first, approvals later"
    auth = {"Authorization": "Bearer " + settings.OPS_API_TOKEN}
    asked = client.post(
        "/api/ops/conversations", body, content_type="application/json", headers=auth
    )
    conversation = Conversation.objects.get(pk=asked.json()["id"])

    run_conversation(conversation, random.Random(1), pause=0)

    action = Proposal.objects.get(source="conversation")
    assert (action.status, action.untrusted) == ("pending", True)
    assert f"C{conversation.id}'s topic" in action.untrusted_reason
    learned = MemoryCandidate.objects.get(
        source_ref=f"conversation:{conversation.id}", source_agent="coordinator"
    )
    assert learned.status == "new" and "topic" in learned.untrusted_reason
    turns = Event.objects.filter(kind="conversation.turn")
    assert turns.exists() and all(t.payload.get("untrusted") for t in turns)


def test_what_a_conversation_on_a_topic_from_the_command_line_distils_waits(crew):
    call_command(
        "converse", "--format", "standup", "--agents", "coordinator,devops,research,security",
        "--topic", "launch", stdout=StringIO(),
    )  # fmt: skip

    assert Proposal.objects.get(source="conversation").status == "pending"
    assert "topic" in Proposal.objects.get(source="conversation").untrusted_reason


def test_a_first_boot_conversation_on_its_own_topic_stays_trusted(crew):
    conversation = request_conversation(
        "standup", ["coordinator", "devops", "research", "security"], "launch", source="first-boot"
    )

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
    conversation = request_conversation("standup", people, "launch", source="schedule")
    run_conversation(conversation, random.Random(1), pause=0)

    loop.match_reactions()
    loop.process_reactions(10**9)

    echoes = Proposal.objects.filter(source="reaction", title__startswith="Echo: alpha:")
    assert echoes.exists()
    assert {(p.status, p.untrusted) for p in echoes} == {("pending", True)}
