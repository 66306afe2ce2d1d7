"""The agentbus's memory verbs: an agent runtime proposes candidates (evidence checked), and
the curator's promotion goes through the same gate as every other (it may still reject)."""

from memory.actions import CandidateInvalid, propose_candidate
from memory.gate import review_candidate
from memory.models import CandidateStatus, MemoryCandidate, MemoryScope, MemoryType, Stability


def add_memory_verbs(verbs) -> None:
    create = verbs.add_parser("create-memory-candidate")
    create.add_argument("--source-agent", required=True)
    create.add_argument("--candidate-kind", required=True, choices=MemoryType.values)
    create.add_argument("--scope", required=True, choices=MemoryScope.values)
    create.add_argument("--subject-key", required=True)
    create.add_argument("--title", required=True)
    create.add_argument("--body", required=True)
    create.add_argument("--evidence", default="[]", help="JSON list of {type, id}")
    create.add_argument("--confidence-score", type=int, required=True, choices=range(1, 6))
    create.add_argument("--stability", default="medium", choices=Stability.values)
    create.add_argument("--visibility", default="private", choices=["private", "shared"])
    create.add_argument("--dedupe-key")
    promote = verbs.add_parser("promote-memory-candidate")
    promote.add_argument("--candidate-id", type=int, required=True)
    promote.add_argument("--promoted-by", required=True)
    promote.add_argument("--notes", default="")


def score_to_confidence(score: int) -> float:
    """A 1-5 score onto 0-1: 1 → 0.2, 3 → 0.6 (above the gate's 0.55 floor), 5 → 1.0."""
    return round(score / 5, 2)


def create_memory_candidate(json_arg, bad_input, **o) -> dict:
    data = {
        "agent": o["source_agent"],
        "kind": o["candidate_kind"],
        "scope": o["scope"],
        "subject_key": o["subject_key"],
        "title": o["title"],
        "body": o["body"],
        "evidence": json_arg(o["evidence"], "evidence"),
        "confidence": score_to_confidence(o["confidence_score"]),
        "stability": o["stability"],
        "visibility": o["visibility"],
        "dedupe_key": o["dedupe_key"],
        "source_ref": f"agentbus:{o['source_agent']}",
    }
    try:
        candidate, created = propose_candidate(data)
    except CandidateInvalid as invalid:
        raise bad_input("invalid memory candidate", invalid.errors) from None
    return {"candidate_id": candidate.id, "status": candidate.status, "duplicate": not created}


def promote_memory_candidate(bad_input, **o) -> dict:
    candidate = MemoryCandidate.objects.filter(pk=o["candidate_id"]).first()
    if candidate is None or candidate.status != CandidateStatus.NEW:
        raise bad_input(f"no open candidate {o['candidate_id']}")
    review = review_candidate(candidate.id, reviewer=f"agent:{o['promoted_by']}")
    return {
        "candidate_id": candidate.id,
        "decision": review.decision,
        "reason": review.reason,
        "memory_id": review.memory_id,
    }
