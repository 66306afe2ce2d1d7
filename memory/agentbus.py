"""The agentbus's memory verbs: an agent runtime proposes candidates (evidence checked), and
the curator's promotion goes through the same gate as every other (it may still reject)."""

from django.utils.dateparse import parse_datetime

from memory.actions import CandidateInvalid, propose_candidate
from memory.decisions import DecisionRefused, promote_with_overrides
from memory.models import MemoryCandidate, MemoryScope, MemoryType, Stability
from memory.models.candidates import OUTSIDE_RUNTIME
from opscore.cli import whole
from opscore.db import db_now
from opscore.inputs import InputRefused, time_in_range

NAMESPACE = "default"  # one company per install; the seed's namespace argument must name it
MAX_CURATOR = 100  # a promoter's name, kept as `agent:NAME` in a review row of 150 characters


def add_memory_verbs(verbs) -> None:
    create = verbs.add_parser("create-memory-candidate", help="propose something learned")
    create.add_argument("--namespace", default=NAMESPACE)
    create.add_argument("--source-agent", required=True)
    create.add_argument("--candidate-kind", required=True, choices=MemoryType.values)
    create.add_argument("--scope", required=True, choices=MemoryScope.values)
    create.add_argument("--subject-key", required=True)
    create.add_argument("--title", required=True)
    create.add_argument("--body", required=True)
    create.add_argument("--evidence", default="[]", help="JSON list of {type, id}")
    create.add_argument("--source-refs", default="[]", help="JSON list of strings (URLs, paths)")
    create.add_argument("--confidence-score", type=whole, required=True, choices=range(1, 6))
    create.add_argument("--stability", default="medium", choices=Stability.values)
    create.add_argument("--visibility", default="private", choices=["private", "shared"])
    create.add_argument("--dedupe-key")
    promote = verbs.add_parser("promote-memory-candidate", help="make a candidate a memory")
    promote.add_argument("--candidate-id", type=whole, required=True)
    promote.add_argument("--promoted-by", required=True)
    promote.add_argument("--namespace", default=NAMESPACE)
    promote.add_argument("--notes", default="")
    promote.add_argument("--kind", choices=MemoryType.values)
    promote.add_argument("--scope", choices=MemoryScope.values)
    promote.add_argument("--stability", choices=Stability.values)
    promote.add_argument("--confidence-score", type=whole, choices=range(1, 6))
    for name in ("--subject-key", "--title", "--body", "--dedupe-key"):
        promote.add_argument(name)
    for name in ("--expires-at", "--next-review-at"):
        promote.add_argument(name, help="ISO 8601 with a time zone")
    promote.add_argument("--supersedes-memory-id", type=whole)


def score_to_confidence(score: int) -> float:
    """A 1-5 score onto 0-1: 1 → 0.2, 3 → 0.6 (above the gate's 0.55 floor), 5 → 1.0."""
    return round(score / 5, 2)


def check_namespace(bad_input, namespace: str) -> None:
    if namespace != NAMESPACE:
        raise bad_input(f"unknown namespace {namespace!r}: this install has one, {NAMESPACE!r}")


def source_refs(json_arg, bad_input, raw: str) -> list[str]:
    refs = json_arg(raw, "source_refs")
    if not isinstance(refs, list) or not all(isinstance(r, str) and len(r) <= 500 for r in refs):
        raise bad_input("a JSON list of strings of at most 500 characters", option="source_refs")
    if len(refs) > 20:
        raise bad_input(f"at most 20, got {len(refs)}", option="source_refs")
    return refs


def create_memory_candidate(json_arg, bad_input, **o) -> dict:
    check_namespace(bad_input, o["namespace"])
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
        "source_ref": f"{OUTSIDE_RUNTIME}{o['source_agent']}",
        "source_refs": source_refs(json_arg, bad_input, o["source_refs"]),
    }
    try:
        candidate, created = propose_candidate(data, untrusted_reason=shared_from_outside(data))
    except CandidateInvalid as invalid:
        raise bad_input("invalid memory candidate", invalid.errors) from None
    return {"candidate_id": candidate.id, "status": candidate.status, "duplicate": not created}


def shared_from_outside(data: dict) -> str:
    """An agent's runtime may teach its own agent; what it would teach every agent (a shared
    memory reaches other agents' prompts) waits for a person, whoever promotes it."""
    if data["visibility"] != "shared":
        return ""
    return f"shared knowledge from {data['agent']}'s runtime through the agent bus"


def promote_memory_candidate(bad_input, **o) -> dict:
    check_namespace(bad_input, o["namespace"])
    check_curator(bad_input, o["promoted_by"])
    score = o["confidence_score"]
    overrides = {
        "kind": o["kind"],
        "scope": o["scope"],
        "subject_key": o["subject_key"],
        "title": o["title"],
        "body": o["body"],
        "stability": o["stability"],
        "dedupe_key": o["dedupe_key"],
        "confidence": score_to_confidence(score) if score else None,
    }
    after = {"supersedes": o["supersedes_memory_id"]}
    for name in ("expires_at", "next_review_at"):
        if o[name]:
            after[name] = aware_datetime(bad_input, name, o[name])
    if after.get("expires_at") and after["expires_at"] <= db_now():
        # promoted, it would be a memory no prompt ever sees, reported as promoted
        said = "in the past: the memory would be expired as it was made"
        raise bad_input(said, option="expires_at")
    try:
        review = promote_with_overrides(
            o["candidate_id"],
            reviewer=f"agent:{o['promoted_by']}",
            overrides=overrides,
            after=after,
            notes=o["notes"],
            runtime=o["promoted_by"],
        )
    except DecisionRefused as refused:
        raise bad_input(str(refused)) from None
    return {
        "candidate_id": o["candidate_id"],
        "decision": review.decision,
        "reason": review.reason,
        "memory_id": review.memory_id,
    }


def check_curator(bad_input, name: str) -> None:
    """Who promotes is named on every row the promotion writes: a blank name recorded it as
    promoted by 'agent:', and an overlong one was refused by the database after the gate had
    decided (exit 1, no JSON answer). A remote caller's is its token's agent."""
    if not name.strip() or len(name) > MAX_CURATOR:
        given = f"1 to {MAX_CURATOR} characters ({len(name)} given)"
        raise bad_input(given, option="promoted_by")


def aware_datetime(bad_input, name: str, raw: str):
    """A well-shaped text naming no real time ("2030-02-30…", year 0) makes parse_datetime
    raise rather than answer None: it is refused the same way."""
    try:
        value = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise bad_input(f"{raw!r} is not an ISO 8601 date and time with a time zone", option=name)
    try:
        return time_in_range(value, name)
    except InputRefused as refused:
        raise bad_input(refused.message, option=name) from None


def create(json_arg, bad_input, o: dict) -> dict:
    return create_memory_candidate(json_arg, bad_input, **o)


def promote(json_arg, bad_input, o: dict) -> dict:
    return promote_memory_candidate(bad_input, **o)


VERBS = {"create-memory-candidate": create, "promote-memory-candidate": promote}
# A remote caller acts as its token's agent, and promotes only candidates that agent proposed.
ACTORS = {"create-memory-candidate": "source_agent", "promote-memory-candidate": "promoted_by"}
OWNED = {
    "promote-memory-candidate": (
        "candidate_id",
        "memory candidate",
        MemoryCandidate.objects.values_list("source_agent_id", flat=True),
    ),
}
