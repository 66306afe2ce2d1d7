"""The promotion gate: the only way a candidate becomes a memory, and every decision a row.

Against sludge: a candidate without evidence, below the confidence floor, or a shared one resting
on a single incident is rejected; a duplicate (same dedupe key, or the same subject in nearly
the same words, unless it is a claim's newer value) merges its evidence into the memory already
there. Supersession is for the same claim only: the memory a candidate names (`supersedes`), or
— for a decision, preference, constraint or fact about a subject — one whose title says nearly
the same thing with a newer value; a second, different fact about a subject joins the first (the
old one keeps its row, gets `valid_to`). Caps retire the least useful memories (by use, age and
confidence), each with a review row and an event (memory.upkeep.archive_beyond_caps); what an
outside runtime wrote has a cap of its own. Freezing promotions records `skipped` and promotes
nothing.
"""

from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now

from memory.evidence import MAX_REFS
from memory.models import (
    SINGLE_VALUED,
    CandidateStatus,
    Decision,
    Memory,
    MemoryCandidate,
    MemoryReview,
    MemoryStatus,
    Visibility,
)
from memory.upkeep import archive_beyond_caps, expire_lapsed
from opscore.actions import record_cap_hit, record_event
from opscore.db import db_now
from opscore.lanes import lane_paused
from opscore.models import Policy
from opscore.policies import SCHEMAS, parse_policy

GATE = "system:memory-gate"
KEY = "memory_policy"  # the policy whose `frozen` holds every promotion
LANE = "memory"  # the lane whose pause holds the gate's run
HUMAN = "operator:"  # reviewers who are people (the admin, the CLI)
CLAIM_SIMILARITY = 0.6  # of two titles' words: the same claim, restated with a newer value
CLAIM_WORDS = "tsvector_to_array(to_tsvector('english', coalesce(nullif(title, ''), content)))"


def review_candidates(*, reviewer: str = GATE, limit: int = 200) -> dict:
    """Decide every waiting candidate (oldest first), or record why nothing was decided. At
    most `limit` a run: one cut short counts what waits as `deferred`, in a row of its own."""
    policy = Policy.objects.value("memory_policy")
    # untrusted ones wait for a person (the admin's candidate queue says why)
    waiting = MemoryCandidate.objects.filter(status=CandidateStatus.NEW, untrusted_reason="")
    if policy.frozen:
        reason = f"promotions are frozen: {policy.frozen_reason or 'no reason given'}"
        MemoryReview.objects.create(
            decision=Decision.SKIPPED,
            reviewer=reviewer,
            reason=reason,
            touched={"waiting": waiting.count()},
        )
        return {"skipped": waiting.count()}
    counts: dict[str, int] = {}
    batch = list(waiting.order_by("id").values_list("id", flat=True)[: limit + 1])
    for n, candidate_id in enumerate(batch[:limit]):
        if lane_paused(LANE):  # thrown mid-run: the rest wait, new, for a run after the lift
            counts["held"] = len(batch[:limit]) - n
            return counts
        review = review_candidate(candidate_id, reviewer=reviewer, policy=policy)
        if review is not None:
            counts[review.decision] = counts.get(review.decision, 0) + 1
    if len(batch) > limit:  # each decided is new no longer: the next run takes the rest
        counts["deferred"] = waiting.count()
        record_cap_hit("review_candidates", limit, counts["deferred"], actor=reviewer)
    return counts


def review_candidate(
    candidate_id: int, *, reviewer: str, policy=None, notes: str = ""
) -> MemoryReview | None:
    """One decision in one transaction; None when another reviewer got there first. Frozen
    promotions hold for every reviewer — the gate, an operator, an agent's curator."""
    policy = policy or Policy.objects.value("memory_policy")
    if policy.frozen:
        return frozen_review(candidate_id, reviewer, policy)
    with transaction.atomic():
        if (now := switch_held()).frozen:  # frozen since `policy` was read: a run's later ones
            return frozen_review(candidate_id, reviewer, now)
        candidate = (
            MemoryCandidate.objects.select_for_update(skip_locked=True)
            .filter(pk=candidate_id, status=CandidateStatus.NEW)
            .first()
        )
        if candidate is None:
            return None
        if candidate.untrusted_reason and not reviewer.startswith(HUMAN):
            return waits_for_a_person(candidate, reviewer)
        refusal = refusal_of(candidate, policy)
        if refusal:
            return reject(candidate, reviewer, with_notes(refusal, notes))
        if candidate.dedupe_key:  # a lapsed memory's key, still held, failed the insert
            expire_lapsed(Memory.objects.filter(dedupe_key=candidate.dedupe_key), reviewer)
        duplicate = duplicate_of(candidate, policy)
        if duplicate is not None and (held := unjoinable(candidate, duplicate)):
            why = f"its dedupe key is held by a memory it cannot join ({held})"
            return reject(candidate, reviewer, with_notes(why, notes))
        if duplicate is not None:
            return merge(candidate, duplicate, reviewer, notes)
        if gone := named_memory_gone(candidate):
            return reject(candidate, reviewer, with_notes(gone, notes))
        return promote(candidate, reviewer, policy, notes)


def switch_held():
    """memory_policy as it stands, its row read FOR SHARE inside the decision's transaction: a
    freeze committed since the caller read the policy (a gate run reads it once, then decides
    up to 200) is seen, and one thrown meanwhile waits for this decision's commit. Read once,
    a freeze mid-run let the rest of the batch be promoted."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {Policy._meta.db_table} WHERE key = %s FOR SHARE", [KEY])
    stored = Policy.objects.filter(key=KEY).values_list("value", flat=True).first()
    return parse_policy(KEY, stored) if stored is not None else SCHEMAS[KEY]()


def frozen_review(candidate_id: int, reviewer: str, policy) -> MemoryReview:
    return MemoryReview.objects.create(
        decision=Decision.SKIPPED,
        reviewer=reviewer,
        reason=f"promotions are frozen: {policy.frozen_reason or 'no reason given'}",
        candidate_id=candidate_id,
        touched={"candidate": candidate_id},
    )


def named_memory_gone(candidate: MemoryCandidate) -> str:
    """Why the memory a candidate names to replace is no longer there to replace ('' when it
    is): someone retired or replaced it while the candidate waited, and promoting it anyway
    would put a second version of the claim beside theirs, superseding nothing."""
    named = candidate.supersedes_id
    if not named or Memory.objects.active().filter(pk=named).exists():
        return ""
    named = Memory.objects.get(pk=named)
    status = "expired" if named.status == MemoryStatus.ACTIVE else named.status
    by = f" by memory {named.superseded_by_id}" if named.superseded_by_id else ""
    return f"memory {named.id}, which it replaces, was {status}{by} meanwhile: propose it again"


def waits_for_a_person(candidate: MemoryCandidate, reviewer: str) -> MemoryReview:
    """Derived from untrusted content: never promoted by a machine, whoever asks."""
    return MemoryReview.objects.create(
        decision=Decision.SKIPPED,
        reviewer=reviewer,
        reason=f"waits for a person: {candidate.untrusted_reason}"[:2000],
        candidate_id=candidate.id,
        touched={"candidate": candidate.id},
    )


HELD = "memory"  # touched["held"] of a hold row: the lane whose pause kept the candidate waiting


def hold(candidate: MemoryCandidate, reviewer: str, reason: str) -> MemoryReview:
    """No decision yet: the memory lane is paused; the candidate stays new, and this row (naming
    who asked for the review) is how the lane finds it again after the lift."""
    return MemoryReview.objects.create(
        decision=Decision.SKIPPED,
        reviewer=reviewer,
        reason=reason[:2000],
        candidate=candidate,
        touched={"candidate": candidate.id, "held": HELD},
    )


def with_notes(reason: str, notes: str) -> str:
    """A reviewer's own words travel with the gate's reason (review rows are append-only)."""
    return f"{reason}; notes: {notes.strip()}"[:2000] if notes.strip() else reason


def refusal_of(candidate: MemoryCandidate, policy) -> str | None:
    if not candidate.evidence:
        return "no evidence: a memory must cite the rows it was learned from"
    if float(candidate.confidence) < policy.min_confidence:
        return (
            f"speculative: confidence {candidate.confidence} is below "
            f"memory_policy.min_confidence {policy.min_confidence}"
        )
    shared = candidate.visibility == Visibility.SHARED
    if shared and len(candidate.evidence) < policy.min_evidence_shared:
        return (
            f"a single noisy incident is not shared knowledge: {len(candidate.evidence)} "
            f"evidence ref(s), shared memories need {policy.min_evidence_shared}"
        )
    return None


def reject(candidate: MemoryCandidate, reviewer: str, reason: str) -> MemoryReview:
    candidate.close(CandidateStatus.REJECTED, reviewer, reason)
    return MemoryReview.objects.create(
        decision=Decision.REJECT, reviewer=reviewer, reason=reason, candidate=candidate
    )


def same_subject(candidate: MemoryCandidate):
    """Active memories about the same thing, readable where the candidate would be."""
    memories = Memory.objects.active().filter(
        scope=candidate.scope, subject_key=candidate.subject_key, type=candidate.kind
    )
    if candidate.visibility == Visibility.PRIVATE:
        return memories.filter(visibility=Visibility.PRIVATE, agent=candidate.source_agent_id)
    return memories.filter(visibility=Visibility.SHARED)


def unjoinable(candidate: MemoryCandidate, memory: Memory) -> str:
    """Why a candidate may not merge into `memory` ('' when it may). Its evidence and confidence
    would change what is read where the candidate is not: another agent's private memory, or
    — for a private candidate, which no person need see — what every agent reads (and a shared
    one would vanish into a memory only one agent reads)."""
    if memory.visibility == Visibility.PRIVATE and memory.agent_id != candidate.source_agent_id:
        return "another agent's private one"
    if memory.visibility != candidate.visibility:
        return f"memory {memory.id} is {memory.visibility}, the candidate {candidate.visibility}"
    return ""


def duplicate_of(candidate: MemoryCandidate, policy) -> Memory | None:
    """The memory that already says this, if any. Never the one the candidate names to replace:
    a correction shares most of its words, and merged into it the memory kept the old claim."""
    replaced = {"pk": candidate.supersedes_id} if candidate.supersedes_id else {}
    if candidate.dedupe_key:
        same_key = Memory.objects.active().filter(dedupe_key=candidate.dedupe_key)
        if (found := same_key.exclude(**replaced).first()) is not None:
            return found
    words = lexemes(f"{candidate.title} {candidate.subject_key} {candidate.body}")  # as `search`
    if not words:
        return None
    nearby = same_subject(candidate).exclude(**replaced)
    nearby = nearby.annotate(words=RawSQL("tsvector_to_array(search)", []))
    for memory in nearby[:200]:
        theirs = set(memory.words)
        alike = theirs and len(words & theirs) / len(words | theirs) >= policy.merge_similarity
        if alike and not newer_value_of(candidate, memory):
            return memory
    return None


def newer_value_of(candidate: MemoryCandidate, memory: Memory) -> bool:
    """The candidate says what `memory` says with a newer value ("Back up db-1 nightly" →
    "... hourly"): a single-valued claim whose title changed, not a restatement. Most of a long
    decision's words stay when its value changes, so as a near-duplicate it was merged and the
    memory kept the old value; it is for contradicted_by to supersede."""
    if candidate.kind not in SINGLE_VALUED or not candidate.subject_key:
        return False
    subject = lexemes(candidate.subject_key)
    mine = lexemes(candidate.title or candidate.body) - subject
    theirs = lexemes(memory.title or memory.content) - subject
    return mine != theirs and same_claim(mine, theirs) is not None


def lexemes(text: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", [text])
        return set(cursor.fetchone()[0])


def merge(candidate: MemoryCandidate, memory: Memory, reviewer: str, notes="") -> MemoryReview:
    """The memory already knows this: it gains the evidence (and confidence, if higher), as
    much as the MAX_REFS a memory keeps; the review names the refs past them."""
    known = {(e["type"], e["id"]) for e in memory.evidence}
    new = [e for e in candidate.evidence if (e["type"], e["id"]) not in known]
    room = max(MAX_REFS - len(memory.evidence), 0)
    added, not_kept = new[:room], new[room:]
    memory.evidence = [*memory.evidence, *added]
    memory.confidence = max(memory.confidence, candidate.confidence)
    memory.updated_by = reviewer
    memory.save(update_fields=["evidence", "confidence", "updated_by"])
    candidate.close(CandidateStatus.MERGED, reviewer, f"merged into memory {memory.id}", memory)
    return MemoryReview.objects.create(
        decision=Decision.MERGE,
        reviewer=reviewer,
        reason=with_notes(f"duplicate of memory {memory.id}; {said(added, not_kept)}", notes),
        candidate=candidate,
        memory=memory,
        touched={"memory": memory.id, "evidence_added": added}
        | ({"evidence_not_kept": not_kept} if not_kept else {}),
    )


def said(added: list, not_kept: list) -> str:
    """What a merge did with the candidate's evidence, refs it could not keep included."""
    text = f"{len(added)} new evidence ref(s) added"
    return f"{text}; {len(not_kept)} past the {MAX_REFS} a memory keeps" if not_kept else text


def promote(candidate: MemoryCandidate, reviewer: str, policy, notes="") -> MemoryReview:
    old = contradicted_by(candidate)
    if old is not None:  # free the dedupe key and the subject before the new one arrives
        old.status, old.valid_to, old.updated_by = MemoryStatus.SUPERSEDED, Now(), reviewer
        old.save(update_fields=["status", "valid_to", "updated_by"])
    memory = new_memory(candidate, reviewer, policy)
    if old is not None:
        Memory.objects.filter(pk=old.pk).update(superseded_by=memory)
        MemoryReview.objects.create(
            decision=Decision.SUPERSEDE,
            reviewer=reviewer,
            reason=f"memory {memory.id} says newer about {candidate.subject_key or 'this'}",
            candidate=candidate,
            memory=old,
            touched={"superseded": old.id, "by": memory.id},
        )
    candidate.close(CandidateStatus.PROMOTED, reviewer, f"promoted as memory {memory.id}", memory)
    review = MemoryReview.objects.create(
        decision=Decision.PROMOTE,
        reviewer=reviewer,
        reason=with_notes(
            f"{len(candidate.evidence)} evidence ref(s), confidence {candidate.confidence}", notes
        ),
        candidate=candidate,
        memory=memory,
        touched={"memory": memory.id, "supersedes": old.id if old else None},
    )
    announce(memory, policy, candidate.not_our_words)
    archive_beyond_caps(memory, reviewer, policy, actor=GATE)
    return review


def contradicted_by(candidate: MemoryCandidate) -> Memory | None:
    """The memory this candidate replaces: the one it names, or an active single-valued memory
    about the same subject making nearly the same claim ("Back up db-1 nightly" → "... hourly").
    Never merely the same subject and kind: a second fact about a service joins the first."""
    if candidate.supersedes_id:
        active = Memory.objects.active().select_for_update()
        return active.filter(pk=candidate.supersedes_id).first()
    if candidate.kind not in SINGLE_VALUED or not candidate.subject_key:
        return None
    subject = lexemes(candidate.subject_key)
    claim = lexemes(candidate.title or candidate.body) - subject
    best, closest = None, -1.0
    nearby = same_subject(candidate).annotate(words=RawSQL(CLAIM_WORDS, []))
    for memory in nearby.order_by("-created_at")[:200]:
        similarity = same_claim(claim, set(memory.words) - subject)
        if similarity is not None and similarity > closest:
            best, closest = memory, similarity
    if best is None:
        return None
    return Memory.objects.select_for_update().get(pk=best.pk)


def same_claim(mine: set[str], theirs: set[str]) -> float | None:
    """How alike two claims about one subject are (their words, the subject's own left out: a
    title naming 'checkout-web' shares three words with every other one), or None when they are
    different claims. The same claim: most words in common, or all but one on each side
    ("back up nightly" → "back up hourly": what it says of the subject, with a newer value)."""
    if not mine & theirs:
        return None
    similarity = len(mine & theirs) / len(mine | theirs)
    newer_value = len(mine - theirs) <= 1 and len(theirs - mine) <= 1
    return similarity if similarity >= CLAIM_SIMILARITY or newer_value else None


def new_memory(candidate: MemoryCandidate, reviewer: str, policy) -> Memory:
    now = db_now()
    return Memory.objects.create(
        agent_id=candidate.source_agent_id,
        type=candidate.kind,
        scope=candidate.scope,
        subject_key=candidate.subject_key,
        visibility=candidate.visibility,
        title=candidate.title,
        content=candidate.body,
        confidence=candidate.confidence,
        stability=candidate.stability,
        tags=candidate.tags,
        evidence=candidate.evidence,
        candidate=candidate,
        source_trace_id=f"candidate:{candidate.id}",
        dedupe_key=candidate.dedupe_key,
        next_review_at=now + timedelta(days=policy.days(policy.review_days, candidate.kind)),
        expires_at=now + timedelta(days=policy.days(policy.expire_days, candidate.kind)),
        created_by=reviewer,
        updated_by=reviewer,
    )


def announce(memory: Memory, policy, untrusted: str = "") -> None:
    """One event per promotion. A shared insight, or an agent's own insight at the fast path's
    confidence, is `insight.promoted` (the insight_promoted trigger turns it into work); a
    modest private insight from a chat is not company news. `untrusted`: why its words are not
    Opscore's own, carried on the event so the work it prompts waits for a person."""
    notable = memory.visibility == Visibility.SHARED or (
        memory.confidence >= Decimal(str(policy.insight_fast_path_confidence))
    )
    record_event(
        "insight.promoted" if memory.type == "insight" and notable else "memory.promoted",
        f"{memory.agent_id} learned: {memory.title or memory.content[:80]}",
        summary=memory.content[:500],
        tags=["memory", "promoted", memory.type, memory.visibility],
        payload={"memory_id": memory.id, "kind": memory.type, "scope": memory.scope}
        | ({"untrusted": untrusted} if untrusted else {}),
        agent_id=memory.agent_id,
        actor=GATE,
    )
