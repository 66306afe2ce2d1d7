"""The memory lane's workflows: propose a candidate (the one way in), with its evidence checked."""

from decimal import Decimal
from typing import Annotated

from django.db import IntegrityError, transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memory.evidence import EvidenceInvalid, check_evidence
from memory.evidence import untrusted_reason as evidence_untrusted
from memory.gate import hold, reject, review_candidate
from memory.initiative import OUTCOME_TAGS
from memory.models import (
    CandidateStatus,
    Memory,
    MemoryCandidate,
    MemoryReview,
    MemoryScope,
    MemoryType,
    Stability,
    Visibility,
)
from memory.retrieval import OFFLINE_TAG
from missions.schemas import field_errors, visible_only
from opscore.inputs import FieldErrors, InputRefused, check_clean
from opscore.lanes import DROP, pause_of
from opscore.models import Agent, Policy
from opscore.redaction import scrub

# Tags other code reads as how a memory was learned (initiative and the day's lesson cap count
# outcome lessons, retrieval hides the offline stand-ins'): only the code that learned it says so.
MARKER_TAGS = frozenset({*OUTCOME_TAGS, OFFLINE_TAG, "operator-feedback", "extracted"})


def labels_only(tags: list[str]) -> list[str]:
    """A model's tags for what it learned, without the markers it may not claim: a chat's
    lesson tagged `metric-lesson` made its agent eligible for initiative and used up the day's
    lessons from real outcomes."""
    return [tag for tag in tags if tag not in MARKER_TAGS]


class CandidateInvalid(FieldErrors):
    """A memory candidate that does not fit its schema."""


# A label, not a second body: a model's distillation chooses them (roundtable.distillation).
Tag = Annotated[str, Field(min_length=1, max_length=80)]  # a repository's name, a step kind


class CandidateDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field(min_length=1, max_length=64)
    kind: MemoryType
    scope: MemoryScope = MemoryScope.AGENT
    subject_key: str = Field(default="", max_length=200)
    visibility: Visibility = Visibility.PRIVATE
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)
    evidence: list = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    stability: Stability = Stability.MEDIUM
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)
    source_ref: str = Field(default="", max_length=200)
    source_refs: list[str] = Field(default_factory=list, max_length=20)
    supersedes: int | None = Field(default=None, ge=1, description="memory id: the same claim")

    _no_invisible_characters = field_validator("subject_key", "title", "body")(visible_only)


def drafted(data: dict) -> CandidateDraft:
    """The draft as it may be kept: a secret in it (a token pasted into a chat, quoted by the
    model that distilled it) is masked before anything is checked or stored, since a memory is
    read back into prompts and sent to the model provider for as long as it lives."""
    try:
        check_clean(data)
        return CandidateDraft.model_validate(scrub(data))
    except InputRefused as refused:
        raise CandidateInvalid(refused.errors) from None
    except ValidationError as error:
        raise CandidateInvalid(field_errors(error)) from None


def parse_candidate(data: dict) -> CandidateDraft:
    draft = drafted(data)
    try:
        draft.evidence = check_evidence(draft.evidence)
    except EvidenceInvalid as invalid:
        raise CandidateInvalid(invalid.errors) from None
    if not Agent.objects.filter(slug=draft.agent).exists():
        raise CandidateInvalid({"agent": [f"unknown agent {draft.agent!r}"]})
    if draft.supersedes is not None and not supersedable(draft):
        raise CandidateInvalid({"supersedes": [f"no active memory {draft.supersedes}"]})
    return draft


def overridden(candidate: MemoryCandidate, changes: dict) -> dict:
    """A reviewer's corrections held to the rules the candidate's proposal met (its limits, no
    hidden characters, no secrets): a curator's words are no less outside words than the
    runtime's own proposal. The changed fields, as they may be kept."""
    names = ["kind", "scope", "subject_key", "visibility", "title", "body", "stability"]
    data = {name: getattr(candidate, name) for name in names} | {"dedupe_key": candidate.dedupe_key}
    data |= {"agent": candidate.source_agent_id, "confidence": float(candidate.confidence)}
    draft = drafted(data | changes).model_dump(mode="json")
    kept = {name: draft[name] for name in changes}
    if "confidence" in kept:
        kept["confidence"] = Decimal(str(kept["confidence"])).quantize(Decimal("0.01"))
    return kept


def supersedable(draft: CandidateDraft) -> bool:
    """A candidate may replace an active memory read where it would be, nothing else."""
    replaceable = Memory.objects.active().replaceable_by(draft.agent, draft.visibility)
    return replaceable.filter(pk=draft.supersedes).exists()


def propose_candidate(data: dict, untrusted_reason: str = "") -> tuple[MemoryCandidate, bool]:
    """Store a candidate for the gate; an open one with the same dedupe key is returned instead.
    Bad input (including evidence naming rows that do not exist) raises CandidateInvalid.
    `untrusted_reason`: why no machine may promote it (its evidence may give another)."""
    draft = parse_candidate(data)
    fields = draft.model_dump(exclude={"agent", "confidence", "supersedes"})
    fields["supersedes_id"] = draft.supersedes
    fields["confidence"] = Decimal(str(draft.confidence)).quantize(Decimal("0.01"))
    fields["untrusted_reason"] = untrusted_reason or evidence_untrusted(draft.evidence)
    try:
        with transaction.atomic():
            candidate = MemoryCandidate.objects.create(source_agent_id=draft.agent, **fields)
    except IntegrityError:
        existing = MemoryCandidate.objects.filter(
            source_agent_id=draft.agent, dedupe_key=draft.dedupe_key, status=CandidateStatus.NEW
        ).first()
        if existing is None:
            raise
        return existing, False
    refuse_while_dropping(candidate)
    return candidate, True


LANE_REVIEWER = "system:memory-lane"


def refuse_while_dropping(candidate: MemoryCandidate) -> MemoryReview | None:
    """The memory lane paused in drop mode refuses new candidates, whoever proposes them, with
    the pause's reason on the rejection (candidates waiting from before the pause still wait)."""
    pause = pause_of("memory")
    if pause is None or pause.mode != DROP:
        return None
    return reject(candidate, LANE_REVIEWER, f"dropped: {pause.why}")


def propose_and_review(data: dict, *, reviewer: str = "system:outcome-learning"):
    """Propose a candidate, and the gate's review of it: an agent's own private candidate is
    reviewed at once when memory_policy.auto_promote_private; shared ones always wait for the
    promotion run (review None), and untrusted ones for a person."""
    candidate, created = propose_candidate(data)
    if not created or candidate.status != CandidateStatus.NEW:  # refused by a dropping pause
        return candidate, None
    private = candidate.visibility == Visibility.PRIVATE
    trusted = not candidate.untrusted_reason
    if private and trusted and Policy.objects.value("memory_policy").auto_promote_private:
        return candidate, review_at_once(candidate, reviewer)
    return candidate, None


def review_at_once(candidate: MemoryCandidate, reviewer: str) -> MemoryReview | None:
    """While the memory lane is paused (queue) nothing is promoted: the candidate waits with a
    row saying so, and is reviewed for `reviewer` once the lane runs again
    (memory.learning.review_held)."""
    pause = pause_of("memory")
    if pause is not None:
        return hold(candidate, reviewer, f"held: {pause.why}")
    return review_candidate(candidate.id, reviewer=reviewer)
