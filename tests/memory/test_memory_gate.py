"""The promotion gate: evidence or nothing, no duplicates, newer facts supersede, caps hold."""

import pytest

from memory.actions import CandidateInvalid, propose_candidate
from memory.decisions import supersede_memory
from memory.gate import review_candidates
from memory.models import Memory, MemoryCandidate, MemoryReview
from opscore.actions import record_event, set_policy
from opscore.models import Event
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence(agent):
    events = [record_event("step.failed", f"disk full {n}", agent=agent) for n in range(3)]
    return [{"type": "event", "id": e.id} for e in events]


def candidate(refs, **fields):
    data = {
        "agent": "devops",
        "kind": "lesson",
        "title": "Disks fill up on Fridays",
        "body": "The log volume on db-1 fills up every Friday after the weekly export.",
        "confidence": 0.8,
        "evidence": refs[:1],
    } | fields
    return propose_candidate(data)[0]


def review_of(c) -> MemoryReview:
    return MemoryReview.objects.filter(candidate=c).latest("id")


def test_a_candidate_citing_a_row_that_does_not_exist_is_refused(agent):
    with pytest.raises(CandidateInvalid) as refused:
        candidate([{"type": "step", "id": 999_999}])

    assert refused.value.errors == {"evidence.0": ["no step 999999"]}
    assert not MemoryCandidate.objects.exists()


def test_evidence_free_and_speculative_candidates_are_rejected_with_a_reason(agent, evidence):
    bare = candidate([])
    timid = candidate(evidence, confidence=0.3, title="Maybe disks", dedupe_key="timid")
    rumour = candidate(evidence, visibility="shared", title="Everyone: disks", dedupe_key="r")

    assert review_candidates() == {"reject": 3}

    assert "no evidence" in review_of(bare).reason
    assert "speculative" in review_of(timid).reason
    assert "single noisy incident" in review_of(rumour).reason
    assert not Memory.objects.exists()


def test_a_promoted_memory_keeps_its_provenance_and_review_dates(agent, evidence):
    c = candidate(evidence)

    review_candidates()

    memory = Memory.objects.get()
    assert (memory.candidate, memory.evidence, memory.status) == (c, evidence[:1], "active")
    assert memory.next_review_at and memory.expires_at
    assert review_of(c).decision == "promote"
    assert Event.objects.filter(kind="memory.promoted", payload__memory_id=memory.id).exists()


def test_a_duplicate_merges_its_evidence_instead_of_a_second_memory(agent, evidence):
    candidate(evidence, dedupe_key="disk-fridays")
    review_candidates()
    same_key = candidate(evidence[1:], dedupe_key="disk-fridays")
    reworded = candidate(
        evidence[2:],
        title="Disks fill up on Fridays",
        body="Every Friday the log volume on db-1 fills up after the weekly export.",
    )

    assert review_candidates() == {"merge": 2}

    memory = Memory.objects.get()
    assert len(memory.evidence) == 3
    assert {review_of(same_key).decision, review_of(reworded).decision} == {"merge"}


def test_a_newer_decision_supersedes_the_old_one_which_keeps_its_row(agent, evidence):
    fields = {"kind": "decision", "scope": "service", "subject_key": "db-1"}
    candidate(evidence, title="Back up db-1 nightly", body="db-1 backs up at 02:00.", **fields)
    review_candidates()
    candidate(evidence[1:], title="Back up db-1 hourly", body="db-1 backs up hourly.", **fields)

    review_candidates()

    old, new = Memory.objects.order_by("id")
    assert (old.status, old.superseded_by, new.status) == ("superseded", new, "active")
    assert old.valid_to is not None
    assert MemoryReview.objects.filter(decision="supersede", memory=old).exists()


def test_frozen_promotions_record_skipped_and_promote_nothing(agent, evidence):
    set_policy("memory_policy", {"frozen": True, "frozen_reason": "audit week"}, actor="t")
    candidate(evidence)

    assert review_candidates() == {"skipped": 1}

    skipped = MemoryReview.objects.get(decision="skipped")
    assert "audit week" in skipped.reason
    assert not Memory.objects.exists()
    assert MemoryCandidate.objects.get().status == "new"


def test_over_the_cap_the_lowest_value_memory_is_archived_with_a_reason(agent, evidence):
    set_policy("memory_policy", {"max_active_per_agent": 2}, actor="t")
    for n, confidence in enumerate([0.9, 0.6, 0.8]):
        candidate(
            evidence,
            title=f"lesson {n}",
            body=f"distinct lesson number {n} about topic{n}",
            confidence=confidence,
            dedupe_key=f"k{n}",
        )

    review_candidates()

    archived = Memory.objects.get(status="archived")
    assert archived.title == "lesson 1"
    assert Memory.objects.active().count() == 2
    assert "over the cap" in MemoryReview.objects.get(decision="archive", memory=archived).reason


def test_another_agents_private_memories_are_not_its_duplicates(agent, evidence):
    AgentFactory(slug="security")
    candidate(evidence, dedupe_key=None)
    candidate(evidence, agent="security", dedupe_key=None)

    assert review_candidates() == {"promote": 2}


def test_a_shared_or_strong_insight_is_announced_for_the_trigger_a_modest_one_is_not(
    agent, evidence
):
    candidate(evidence, kind="insight", title="private hunch", confidence=0.6, dedupe_key="p")
    candidate(
        evidence,
        kind="insight",
        title="strong private insight",
        body="Restarting the exporter before the weekly export keeps db-1 under its quota.",
        confidence=0.85,
        dedupe_key="q",
    )
    candidate(
        evidence,
        kind="insight",
        title="for everyone",
        visibility="shared",
        body="Everyone should know the weekly export fills db-1.",
        dedupe_key="s",
        evidence=evidence[:2],
    )

    review_candidates()

    announced = Event.objects.filter(kind="insight.promoted").order_by("id")
    assert list(announced.values_list("title", flat=True)) == [
        "devops learned: strong private insight",
        "devops learned: for everyone",
    ]
    assert list(Event.objects.filter(kind="memory.promoted").values_list("title", flat=True)) == [
        "devops learned: private hunch"
    ]


def test_an_unrelated_fact_about_the_same_subject_joins_it_instead_of_replacing_it(agent, evidence):
    fields = {"kind": "fact", "scope": "service", "subject_key": "billing-api"}
    owned = {"title": "billing-api is owned by payments", "body": "Payments owns it."}
    candidate(evidence, **owned, **fields)
    review_candidates()
    candidate(
        evidence[1:], title="billing-api listens on port 8443", body="TLS only, 8443.", **fields
    )

    review_candidates()

    assert Memory.objects.active().count() == 2
    assert not MemoryReview.objects.filter(decision="supersede").exists()


def test_a_candidate_naming_the_memory_it_supersedes_replaces_it(agent, evidence):
    fields = {"kind": "fact", "scope": "service", "subject_key": "billing-api"}
    owned = {"title": "billing-api is owned by payments", "body": "Payments owns it."}
    candidate(evidence, **owned, **fields)
    review_candidates()
    owner = Memory.objects.get()
    candidate(
        evidence[1:],
        title="Ledger team took billing-api over",
        body="Since the reorg the ledger team is on call for it.",
        supersedes=owner.id,
        **fields,
    )

    review_candidates()

    owner.refresh_from_db()
    assert owner.status == "superseded" and owner.superseded_by.title.startswith("Ledger")


def test_a_candidate_cannot_supersede_a_memory_that_does_not_exist(agent, evidence):
    with pytest.raises(CandidateInvalid) as refused:
        candidate(evidence, supersedes=999_999)

    assert refused.value.errors == {"supersedes": ["no active memory 999999"]}


def test_a_private_candidate_cannot_supersede_what_every_agent_knows(agent, evidence):
    shared = {
        "kind": "fact",
        "visibility": "shared",
        "title": "Fridays are frozen",
        "evidence": evidence,
    }
    candidate(evidence, **shared, body="No deploys on Fridays.")
    review_candidates()
    company = Memory.objects.get(visibility="shared")

    with pytest.raises(CandidateInvalid) as refused:
        candidate(evidence, kind="fact", title="Fridays are fine", supersedes=company.id)

    assert refused.value.errors == {"supersedes": [f"no active memory {company.id}"]}
    assert candidate(evidence, **shared, body="Deploy on Fridays.", supersedes=company.id)


def test_over_the_cap_the_least_useful_memory_retires_and_says_so(agent, evidence):
    from datetime import timedelta

    from opscore.db import db_now

    set_policy("memory_policy", {"max_active_per_agent": 2}, actor="t")
    for n, confidence in enumerate([0.6, 0.7]):
        candidate(
            evidence,
            title=f"lesson {n}",
            body=f"distinct lesson number {n} about topic{n}",
            confidence=confidence,
            dedupe_key=f"k{n}",
        )
    review_candidates()
    now = db_now()
    Memory.objects.filter(title="lesson 0").update(use_count=25, last_used_at=now)
    Memory.objects.filter(title="lesson 1").update(created_at=now - timedelta(days=300))
    candidate(evidence, title="lesson 2", body="a third distinct lesson", confidence=0.8)

    review_candidates()

    retired = Memory.objects.get(status="archived")
    assert retired.title == "lesson 1"  # never used and old, though more confident than 0
    event = Event.objects.get(kind="memory.archived")
    assert event.payload["memory_id"] == retired.id and "cap" in event.summary


def test_an_agents_private_cap_never_retires_what_every_agent_knows(agent, evidence):
    set_policy("memory_policy", {"max_active_per_agent": 2}, actor="t")
    shared = {"visibility": "shared", "scope": "global", "evidence": evidence[:2]}
    candidate(evidence, title="rule", body="Exports run at 02:00.", **shared, confidence=0.6)
    for n in range(2):
        candidate(evidence, title=f"lesson {n}", body=f"distinct lesson {n} about topic{n}")

    review_candidates()

    assert not Memory.objects.filter(status="archived").exists()
    assert Memory.objects.active().filter(visibility="shared").count() == 1
    assert Memory.objects.active().filter(visibility="private").count() == 2


def test_a_memory_past_its_expiry_date_hands_its_dedupe_key_on_with_a_row(agent, evidence, clock):
    from datetime import UTC, datetime

    key = {"dedupe_key": "mission-strategy:devops:analyze"}
    clock.freeze(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    candidate(evidence, kind="strategy", title="What works: analyze", **key)
    assert review_candidates() == {"promote": 1}
    lapsed = Memory.objects.get()
    clock.freeze(datetime(2028, 1, 2, 9, 0, tzinfo=UTC))  # a year on: past expire_days
    candidate(evidence, kind="strategy", title="What works: analyze", body="Still works.", **key)

    assert review_candidates() == {"promote": 1}

    lapsed.refresh_from_db()
    assert lapsed.status == "expired" and lapsed.valid_to is not None
    why = MemoryReview.objects.get(memory=lapsed, decision="expire").reason
    assert "expiry date" in why
    assert Memory.objects.active().get(**key).content == "Still works."


def test_a_merge_into_a_memory_full_of_evidence_says_which_refs_it_could_not_keep(agent, evidence):
    first = [{"type": "event", "id": record_event("step.failed", "x", agent=agent).id}]
    candidate(first, dedupe_key="disk-fridays")
    review_candidates()
    # refs none of the candidate's can be: ids 100-149 were, once a worker's events got there
    past = max(ref["id"] for ref in evidence) + 1
    Memory.objects.update(evidence=[{"type": "event", "id": past + n} for n in range(50)])
    late = candidate(evidence, evidence=evidence[:2], dedupe_key="disk-fridays")

    review_candidates()

    review = review_of(late)
    assert review.decision == "merge" and review.touched["evidence_added"] == []
    assert review.touched["evidence_not_kept"] == evidence[:2]
    assert "0 new evidence ref(s) added; 2 past the 50 a memory keeps" in review.reason


def test_two_terse_facts_about_a_hyphenated_service_are_two_claims(agent, evidence):
    """'checkout-web owner' and 'checkout-web region' shared three of their four words — the
    service's name, which Postgres reads as three — and the second fact replaced the first:
    the subject's own words say nothing about which claim a title makes."""
    fields = {"kind": "fact", "scope": "service", "subject_key": "checkout-web"}
    candidate(evidence, title="checkout-web owner", body="Payments owns it.", **fields)
    review_candidates()
    candidate(evidence[1:], title="checkout-web region", body="It runs in eu-west.", **fields)

    review_candidates()

    assert Memory.objects.active().count() == 2
    assert not MemoryReview.objects.filter(decision="supersede").exists()


def test_a_candidate_whose_named_memory_was_replaced_meanwhile_is_not_promoted_beside_it(
    agent, evidence
):
    """A candidate named the fact it replaces; a person replaced that fact while it waited. The
    gate promoted it anyway, superseding nothing and saying nothing: two active versions of
    one claim, and the person's choice silently undone for prompts."""
    fields = {"kind": "fact", "scope": "service", "subject_key": "billing-api"}
    candidate(evidence, title="billing-api is owned by payments", body="Payments.", **fields)
    review_candidates()
    owner = Memory.objects.get()
    candidate(evidence[2:], title="Treasury owns it", body="Treasury.", dedupe_key="treasury")
    review_candidates()
    treasury = Memory.objects.get(dedupe_key="treasury")
    named = candidate(evidence[1:], title="Ledger owns it", body="Ledger.", supersedes=owner.id)
    supersede_memory(owner.id, treasury.id, actor="operator:ann", reason="treasury took it")

    review_candidates()

    named.refresh_from_db()
    assert named.status == "rejected" and named.promoted_memory is None
    assert f"memory {owner.id}" in named.review_notes and "superseded" in named.review_notes
    assert list(Memory.objects.active()) == [treasury]


def test_a_gate_run_cut_short_by_its_cap_leaves_a_row_and_the_next_takes_the_rest(agent):
    for n in range(3):
        candidate([], title=f"Disks fill up, take {n}", dedupe_key=f"take-{n}")

    assert review_candidates(limit=2) == {"reject": 2, "deferred": 1}

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "review_candidates", "limit": 2, "waiting": 1}
    assert review_candidates(limit=2) == {"reject": 1}


def test_an_outside_runtime_cannot_retire_memories_learned_from_opscores_own_evidence(
    agent, evidence
):
    caps = {"max_active_per_agent": 2, "max_active_from_runtime_per_agent": 2}
    set_policy("memory_policy", caps, actor="t")
    for n in range(2):
        candidate(evidence, title=f"lesson {n}", body=f"distinct lesson {n} about topic{n}")
    review_candidates()
    for n in range(5):  # a runtime sending candidates by volume
        runtime = {"source_ref": "agentbus:devops", "dedupe_key": f"bus{n}"}
        candidate(evidence, title=f"bus {n}", body=f"runtime note {n} on subject{n}", **runtime)

    review_candidates()

    mine = Memory.objects.active().filter(title__startswith="lesson")
    assert mine.count() == 2
    assert Memory.objects.active().filter(title__startswith="bus").count() == 2
    retired = Memory.objects.filter(status="archived")
    assert retired.count() == 3 and all(m.title.startswith("bus") for m in retired)
    event = Event.objects.filter(kind="memory.archived").latest("id")
    assert "runtime" in event.summary and event.payload["cap"] == 2


def test_a_correction_naming_the_memory_it_replaces_is_not_merged_into_it(agent, evidence):
    """Most of a correction's words are the old memory's: as a duplicate it was merged, the
    memory kept saying 30 days, and the correction's words were lost."""
    said = "Backups of db-1 go to the ops-backups bucket at 02:00 UTC and are kept {} days."
    candidate(evidence, title="db-1 backups", body=said.format(30))
    review_candidates()
    old = Memory.objects.get()
    fix = candidate(evidence[1:], title="db-1 backups", body=said.format(90), supersedes=old.id)

    review_candidates()

    old.refresh_from_db()
    assert review_of(fix).decision == "promote"
    assert old.status == "superseded" and "90 days" in old.superseded_by.content
    assert [m.content for m in Memory.objects.active()] == [said.format(90)]


def test_a_newer_value_in_a_long_decision_supersedes_it_rather_than_merging(agent, evidence):
    """Most words of a long decision stay when its value changes: as a near-duplicate the new
    one was merged into the old, which kept saying 'nightly', its 'hourly' lost."""
    fields = {"kind": "decision", "scope": "service", "subject_key": "db-1"}
    said = "db-1 backs up {} to the ops-backups bucket, encrypted with the ops key, kept 30 days."
    candidate(evidence, title="Back up db-1 nightly", body=said.format("nightly"), **fields)
    review_candidates()
    newer = candidate(
        evidence[1:], title="Back up db-1 hourly", body=said.format("hourly"), **fields
    )

    review_candidates()

    assert review_of(newer).decision == "promote"
    assert [m.title for m in Memory.objects.active()] == ["Back up db-1 hourly"]
