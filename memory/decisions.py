"""A reviewer's own calls on the queue and the store: reject with a typed reason, merge a
candidate into a memory they name, supersede one memory by another, promote with overrides.

The gate decides what it can on its own; these are the decisions a human (admin, CLI) or an
agent's curator (agentbus) makes instead. Each is one transaction and one MemoryReview row,
and each refuses — with the reason — what would corrupt the store: merging into a retired
memory, a shared candidate into someone's private memory, superseding a memory by itself.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Now

from memory.actions import CandidateInvalid, overridden
from memory.gate import merge, reject, review_candidate
from memory.models import (
    CandidateStatus,
    Decision,
    Memory,
    MemoryCandidate,
    MemoryReview,
    MemoryStatus,
    Visibility,
)
from opscore.lanes import pause_of
from opscore.text import ReasonRefused, checked_reason


class DecisionRefused(ValueError):
    """A decision that cannot be made as asked; the message says why."""


class RejectReason(models.TextChoices):
    NO_EVIDENCE = "no_evidence", "no evidence"
    SPECULATIVE = "speculative", "speculative (an idea, not something that happened)"
    DUPLICATE = "duplicate", "duplicate of a memory already kept"
    WRONG = "wrong", "wrong or contradicted by newer evidence"
    CHATTER = "chatter", "conversation chatter, not knowledge"
    SENSITIVE = "sensitive", "sensitive (should not be remembered)"
    OTHER = "other", "other"


def given_reason(text: str, *, needed_by: str = "") -> str:
    """A reviewer's reason or notes as every reason is kept (opscore.text.checked_reason)."""
    try:
        return checked_reason(text, needed_by=needed_by)
    except ReasonRefused as refused:
        raise DecisionRefused(str(refused)) from None


def open_candidate(candidate_id: int) -> MemoryCandidate:
    found = (
        MemoryCandidate.objects.select_for_update()
        .filter(pk=candidate_id, status=CandidateStatus.NEW)
        .first()
    )
    if found is None:
        raise DecisionRefused(f"no open candidate {candidate_id}")
    return found


def active_memory(memory_id: int) -> Memory:
    found = Memory.objects.select_for_update().filter(pk=memory_id).first()
    if found is None:
        raise DecisionRefused(f"no memory {memory_id}")
    if found.status != MemoryStatus.ACTIVE:
        raise DecisionRefused(f"memory {memory_id} is {found.status}, not active")
    return found


def reject_candidate(candidate_id: int, *, reviewer: str, kind: str, notes: str = ""):
    """A rejection always says which kind of wrong it was; `other` must say more."""
    if kind not in RejectReason.values:
        raise DecisionRefused(f"unknown reason {kind!r}; one of {', '.join(RejectReason.values)}")
    notes = given_reason(notes)
    if kind == RejectReason.OTHER and not notes:
        raise DecisionRefused("a rejection for 'other' reasons needs notes saying why")
    reason = RejectReason(kind).label + (f": {notes}" if notes else "")
    with transaction.atomic():
        return reject(open_candidate(candidate_id), reviewer, reason)


def merge_candidate_into(candidate_id: int, memory_id: int, *, reviewer: str, notes: str = ""):
    notes = given_reason(notes)
    with transaction.atomic():
        candidate, memory = open_candidate(candidate_id), active_memory(memory_id)
        if memory.visibility == Visibility.PRIVATE and (
            candidate.visibility == Visibility.SHARED
            or memory.agent_id != candidate.source_agent_id
        ):
            raise DecisionRefused(
                f"memory {memory_id} is private to {memory.agent_id}; "
                f"candidate {candidate_id} cannot merge into it"
            )
        return merge(candidate, memory, reviewer, notes)


def supersede_memory(old_id: int, by_id: int, *, actor: str, reason: str) -> MemoryReview:
    """`by_id` replaces `old_id`: the old one keeps its row, gets `valid_to` and stops reaching
    prompts."""
    reason = given_reason(reason, needed_by="superseding a memory")
    if old_id == by_id:
        raise DecisionRefused("a memory cannot supersede itself")
    with transaction.atomic():
        old, new = active_memory(old_id), active_memory(by_id)
        old.status, old.valid_to, old.superseded_by = MemoryStatus.SUPERSEDED, Now(), new
        old.updated_by = actor
        old.save(update_fields=["status", "valid_to", "superseded_by", "updated_by"])
        return MemoryReview.objects.create(
            decision=Decision.SUPERSEDE,
            reviewer=actor,
            reason=reason,
            memory=old,
            touched={"superseded": old.id, "by": new.id},
        )


def mark_stale(memory_id: int, *, actor: str, reason: str) -> MemoryReview:
    """An operator's call: an active memory stops reaching prompts, and says why. Only an
    active one: a superseded or expired one keeps how it ended (and what replaced it)."""
    reason = given_reason(reason, needed_by="marking a memory stale")
    with transaction.atomic():
        memory = active_memory(memory_id)
        memory.status, memory.valid_to, memory.updated_by = MemoryStatus.STALE, Now(), actor
        memory.save(update_fields=["status", "valid_to", "updated_by"])
        return MemoryReview.objects.create(
            decision=Decision.MARK_STALE,
            reviewer=actor,
            reason=reason,
            memory=memory,
            touched={"memory": memory.id},
        )


OVERRIDABLE = ["kind", "scope", "subject_key", "title", "body", "confidence", "stability"]
OVERRIDABLE += ["dedupe_key"]
WORDS = {"subject_key", "title", "body"}  # what the memory says, as opposed to how it is filed


def promote_with_overrides(
    candidate_id: int,
    *,
    reviewer: str,
    overrides: dict,
    after: dict,
    notes: str = "",
    runtime: str = "",
):
    """A curator may correct the candidate before the gate sees it (`overrides`, recorded in the
    review notes) and set what the gate would otherwise derive (`after`: expires_at,
    next_review_at, supersedes). The gate may still refuse. `runtime`: the agent whose outside
    runtime asks (the agent bus); words it puts in are marked as its own, not Opscore's."""
    notes = given_reason(notes)
    with transaction.atomic():
        candidate = open_candidate(candidate_id)
        if runtime and (pause := pause_of("memory")) is not None:
            return held_from_runtime(candidate, reviewer, pause)
        names_replaced(candidate, after.get("supersedes"))
        changed = {k: v for k, v in overrides.items() if k in OVERRIDABLE and v is not None}
        try:
            changed = overridden(candidate, changed) if changed else {}
        except CandidateInvalid as invalid:
            raise DecisionRefused(f"overrides refused: {invalid}") from None
        for field, value in changed.items():
            setattr(candidate, field, value)
        if changed:
            candidate.review_notes = f"overridden by {reviewer}: {sorted(changed)}"
            try:
                candidate.full_clean(exclude=["source_agent", "promoted_memory"])
            except ValidationError as invalid:
                raise DecisionRefused(f"overrides refused: {invalid.message_dict}") from None
            marked = (
                candidate.rewritten_by_runtime(runtime) if runtime and WORDS & set(changed) else []
            )
            candidate.save(update_fields=[*changed, "review_notes", *marked])
        review = review_candidate(candidate.id, reviewer=reviewer, notes=notes)
        if review.decision == Decision.PROMOTE:
            apply_after(review.memory, after)
        return review


def held_from_runtime(candidate: MemoryCandidate, reviewer: str, pause) -> MemoryReview:
    """The memory lane is paused: an outside runtime's curator promotes nothing and changes
    nothing (its overrides would outlive a hold); the candidate waits for the gate's run after
    the lift, and this row says why the request did nothing."""
    return MemoryReview.objects.create(
        decision=Decision.SKIPPED,
        reviewer=reviewer,
        reason=f"held: {pause.why}; nothing was changed: the gate decides it after the lift",
        candidate=candidate,
        touched={"candidate": candidate.id},
    )


def names_replaced(candidate, memory_id: int | None) -> None:
    """What a promotion names to supersede becomes the candidate's own `supersedes`, so the gate
    retires that memory and no other, once: superseded again after the gate had found the same
    claim itself (a newer value for a fact), the promotion was refused and rolled back. It is
    read where the candidate would be, as for a candidate's own (memory.actions.supersedable):
    never another agent's private memory, nor a shared one for a private candidate; either is
    answered as no memory at all."""
    if memory_id is None:
        return
    mine = Memory.objects.active().replaceable_by(candidate.source_agent_id, candidate.visibility)
    if not mine.filter(pk=memory_id).exists():
        raise DecisionRefused(f"no active memory {memory_id}")
    candidate.supersedes_id = memory_id
    candidate.save(update_fields=["supersedes"])


def apply_after(memory: Memory, after: dict) -> None:
    dates = {k: after[k] for k in ("expires_at", "next_review_at") if after.get(k)}
    for field, value in dates.items():
        if not isinstance(value, datetime):
            raise DecisionRefused(f"{field} must be a date and time")
        setattr(memory, field, value)
    if dates:
        memory.save(update_fields=list(dates))
