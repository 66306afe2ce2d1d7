"""The memory lane's standing orders: extract (per role, daily), promote (every 6 h, the only
routine that promotes shared memory), review (daily). Each proves it ran, or that it had no work."""

from datetime import timedelta

from memory.embeddings import EmbeddingError, embed_pending
from memory.extraction import ExtractionMalformed, extract_candidates
from memory.gate import review_candidates
from memory.models import CandidateStatus, MemoryCandidate
from memory.upkeep import review_due_memories
from opscore.llm import LLMError
from opscore.models import Policy, RunStatus
from opscore.standing_orders import RunResult


def memory_extract(order, run):
    since = run.scheduled_for - timedelta(hours=24)
    try:
        found = extract_candidates(order.agent_id, since, f"{run.local_slot():%Y-%m-%d}")
    except (ExtractionMalformed, LLMError) as problem:
        return RunResult(RunStatus.FAILED, str(problem))
    if found is None:
        return RunResult(RunStatus.NO_WORK, "no evidence of its own in the last 24 hours")
    if not found:
        return RunResult(RunStatus.NO_WORK, "evidence read; nothing repeated enough to remember")
    ids = [c.id for c in found]
    return RunResult(RunStatus.COMPLETED, f"{len(ids)} candidate(s) for the gate", {"ids": ids})


def memory_promote(order, run):
    """Candidates derived from untrusted words are not the gate's to decide: when only they
    wait, the run says so (it completed with an empty summary)."""
    waiting = MemoryCandidate.objects.filter(status=CandidateStatus.NEW)
    if not waiting.exists():
        return RunResult(RunStatus.NO_WORK, "no candidates waiting")
    if not waiting.filter(untrusted_reason="").exists():
        return RunResult(RunStatus.NO_WORK, f"{waiting.count()} candidate(s) wait for a person")
    policy = Policy.objects.value("memory_policy")
    counts = review_candidates(reviewer=f"agent:{order.agent_id}")
    if policy.frozen:
        reason = policy.frozen_reason or "no reason given"
        return RunResult(RunStatus.BLOCKED, f"promotions are frozen: {reason}", counts)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return RunResult(RunStatus.COMPLETED, summary, counts | {"embeddings": embed_new()})


def embed_new() -> dict:
    """New memories get their vectors in the same run; a provider that fails costs the run
    nothing but the vectors (retrieval falls back to full text until the next run)."""
    try:
        return embed_pending()
    except EmbeddingError as error:
        return {"embedded": 0, "error": str(error)}


def memory_review(order, run):
    counts = review_due_memories()
    if not any(counts.values()):
        return RunResult(RunStatus.NO_WORK, "no memory due for review", counts)
    return RunResult(RunStatus.COMPLETED, ", ".join(f"{k} {v}" for k, v in counts.items()), counts)


HANDLERS = {
    "memory_extract": memory_extract,
    "memory_promote": memory_promote,
    "memory_review": memory_review,
}
