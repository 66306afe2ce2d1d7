"""A bulk action run on a mixed selection (some rows it can act on, some it cannot) says, row
by row, which it left as they were and why; the rows it acted on are acted on as before. The
ones it could not act on used to vanish from the confirmation page and from the report: an
operator who ticked three proposals and read "1 rejected." was never told the other two had
been decided already, and one who ticked only decided ones was told nothing at all."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from console.models import AgentToken
from memory.decisions import reject_candidate, supersede_memory
from memory.models import Memory, MemoryCandidate
from missions.decisions import reject_proposal
from missions.models import Proposal
from opscore.actions import record_event
from opscore.models import Agent, Override
from opscore.overrides import apply_override, lift_override
from tests.factories import AgentFactory, propose

pytestmark = pytest.mark.django_db


def messages_of(answer) -> list[str]:
    return [str(m) for m in get_messages(answer.wsgi_request)]


def act(admin_client, changelist, action, rows, **form):
    chosen = {"action": action, "_selected_action": [row.pk for row in rows]}
    return admin_client.post(changelist, chosen | form)


def test_rejecting_a_mixed_selection_names_each_proposal_it_left_as_it_was(admin_client, agent):
    pending = propose(agent, "deploy", title="Ship it")
    decided = propose(agent, "deploy", title="Old news")
    reject_proposal(decided, actor="operator:bea", reason="stale")
    rows = [pending, decided]

    asked = act(admin_client, "/admin/missions/proposal/", "reject_proposals", rows)
    done = act(
        admin_client, "/admin/missions/proposal/", "reject_proposals", rows, apply="1", reason="no"
    )

    assert f"P{decided.id} — Old news ({agent.slug}): left as it is (rejected)" in asked.text
    assert messages_of(done) == [
        "1 rejected.",
        f"P{decided.id} — Old news ({agent.slug}): left as it is (rejected)",
    ]
    assert Proposal.objects.get(pk=pending.pk).status == "rejected"
    assert Proposal.objects.get(pk=decided.pk).reason == "stale"


def test_lifting_overrides_no_longer_in_force_says_so_and_claims_no_lift(admin_client):
    gone = apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")
    lift_override(gone.id, actor="operator:test", reason="calm")

    done = act(
        admin_client, "/admin/opscore/override/", "lift_selected", [gone], apply="1", reason="x"
    )

    assert messages_of(done) == [
        f"{gone.id} — pause_lane reactions: storm: left as it is (lifted)",
    ]
    assert Override.objects.get(pk=gone.pk).lifted_by == "operator:test"


def memory_candidate(agent, title: str) -> MemoryCandidate:
    event = record_event("step.failed", "x", agent=agent)
    return MemoryCandidate.objects.create(
        source_agent=agent,
        kind="lesson",
        title=title,
        body="db-1's log volume fills every Friday.",
        evidence=[{"type": "event", "id": event.id}],
        confidence=Decimal("0.80"),
    )


@pytest.mark.parametrize("action", ["promote", "reject_weak"])
def test_deciding_candidates_names_each_one_decided_already(admin_client, agent, action):
    waiting = memory_candidate(agent, "Disks fill on Fridays")
    decided = memory_candidate(agent, "Old lesson")
    reject_candidate(decided.id, reviewer="operator:bea", kind="wrong")

    done = act(admin_client, "/admin/memory/memorycandidate/", action, [waiting, decided])

    said = messages_of(done)
    assert f"candidate {decided.id}: left as it is (rejected)" in said
    assert MemoryCandidate.objects.get(pk=waiting.pk).status != "new"
    assert len(said) == 2  # one line for what was done, one for the candidate left


def test_marking_memories_stale_names_each_one_no_longer_active(admin_client, agent):
    active, newer, older = (
        Memory.objects.create(
            agent=agent,
            type="lesson",
            content=text,
            confidence=Decimal("0.70"),
            source_trace_id=text,
        )
        for text in ("disks fill", "deploy on Mondays", "deploy on Fridays")
    )
    supersede_memory(older.id, newer.id, actor="operator:bea", reason="changed our mind")

    done = act(admin_client, "/admin/memory/memory/", "mark_stale", [active, older])

    assert messages_of(done) == [
        "1 marked stale.",
        f"memory {older.id}: left as it is (superseded)",
    ]
    assert Memory.objects.get(pk=active.pk).status == "stale"
    assert Memory.objects.get(pk=older.pk).status == "superseded"


def test_revoking_tokens_names_each_one_revoked_already(admin_client, agent):
    live, _ = AgentToken.issue(agent, "vps", actor="operator:test")
    gone, _ = AgentToken.issue(agent, "laptop", actor="operator:test")
    gone.revoke(actor="operator:bea")

    done = act(admin_client, "/admin/console/agenttoken/", "revoke_tokens", [live, gone])

    assert messages_of(done) == [
        "1 revoked.",
        f"{gone.hint}… (laptop): left as it is (revoked by operator:bea)",
    ]


def test_enabling_agents_names_each_one_enabled_already(admin_client):
    off = AgentFactory(slug="growth", enabled=False)
    on = AgentFactory(slug="scout", enabled=True)

    done = act(admin_client, "/admin/opscore/agent/", "enable_agents", [off, on])

    assert messages_of(done) == ["1 enabled.", "scout: left as it is (enabled already)"]
    assert Agent.objects.get(pk="growth").enabled
