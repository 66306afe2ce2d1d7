"""What untrusted text (a chat, a model's reply, an outside runtime) puts into a memory is held
to the candidate's rules on every path: no secret kept, no hidden character, no text past the
schema's limits, and no reach into memories it could not read."""

import json
from decimal import Decimal

import pytest

from console.models import AgentToken
from memory.actions import CandidateInvalid, propose_and_review
from memory.gate import review_candidate, review_candidates
from memory.models import Memory, MemoryCandidate
from opscore.actions import record_event
from opscore.models import Runtime
from tests.console.test_agent_api import call
from tests.factories import AgentFactory

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


HIDDEN = "\x1b\x07\u202e\u200b"  # escape, bell, bidi override, zero-width space


@pytest.fixture
def runtime_secret(db):
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    return AgentToken.issue(outside, "vps", actor="test")[1]


def proposed_by_runtime(client, secret) -> int:
    cited = json.dumps([{"type": "event", "id": record_event("step.failed", "x").id}])
    asked = {"candidate_kind": "insight", "scope": "agent", "subject_key": "disk"}
    asked |= {"title": "note", "body": "keep it", "confidence_score": 4, "evidence": cited}
    return call(client, secret, "create-memory-candidate", **asked)["candidate_id"]


def test_a_runtimes_words_on_promotion_are_held_to_the_candidates_rules(client, runtime_secret):
    """What a curator put in on promotion skipped the rules its proposal met: hidden characters
    reached the memory (and every prompt carrying it), and a body of 50,000 characters was
    kept where a candidate's may hold 2,000."""
    cleaned = proposed_by_runtime(client, runtime_secret)
    too_long = proposed_by_runtime(client, runtime_secret)
    promote = {"promoted_by": "openclaw-ops"}
    words = {"title": f"disk{HIDDEN} note", "body": f"keep{HIDDEN} it"}
    words["subject_key"] = f"db{HIDDEN}-1"

    call(
        client, runtime_secret, "promote-memory-candidate", candidate_id=cleaned, **promote, **words
    )
    refused = call(client, runtime_secret, "promote-memory-candidate", status=400,
                   candidate_id=too_long, **promote, body="word " * 10_000)  # fmt: skip

    memory = Memory.objects.get(candidate=cleaned)
    assert (memory.title, memory.content, memory.subject_key) == ("disk note", "keep it", "db-1")
    assert "body" in refused["error"] and "2000 characters" in refused["error"]
    assert MemoryCandidate.objects.get(pk=too_long).status == "new"
    assert not Memory.objects.filter(candidate=too_long).exists()


def test_a_runtimes_private_candidate_never_joins_what_every_agent_reads(client, runtime_secret):
    """A person let a runtime's shared note in at confidence 0.80; the same runtime's private
    candidate under its dedupe key then merged into it, lifting what every agent reads to
    1.00 on evidence no person saw → a candidate joins only a memory read where it would be."""
    cited = [{"type": "event", "id": record_event("step.failed", "x").id} for _ in range(2)]
    asked = {"candidate_kind": "fact", "scope": "global", "subject_key": "", "dedupe_key": "k"}
    asked |= {"title": "Fridays are frozen", "body": "No deploys on Fridays."}
    shared = call(client, runtime_secret, "create-memory-candidate", **asked, visibility="shared",
                  confidence_score=4, evidence=json.dumps(cited))["candidate_id"]  # fmt: skip
    company = review_candidate(shared, reviewer="operator:ann").memory
    private = call(client, runtime_secret, "create-memory-candidate", **asked,
                   confidence_score=5, evidence=json.dumps(cited[:1]))["candidate_id"]  # fmt: skip

    review_candidates()

    company.refresh_from_db()
    assert (company.confidence, company.status) == (Decimal("0.80"), "active")
    ending = MemoryCandidate.objects.get(pk=private)
    assert ending.status == "rejected" and f"memory {company.id}" in ending.review_notes


def test_a_tag_is_a_label_not_a_second_body(agent):
    """Ten tags of any length were kept: a model's distillation could store 60,000 characters
    in one memory's tags, past every limit its words are held to."""
    with pytest.raises(CandidateInvalid) as refused:
        propose_and_review(lesson(agent, tags=["disks", "x" * 60_000]))

    assert list(refused.value.errors) == ["tags.1"]
    assert not Memory.objects.exists()
