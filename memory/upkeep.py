"""Review of memories that are due: refreshed while something still supports them, otherwise
expired (weak ones) or marked stale (for a human to look at) — each with a review row."""

from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Now

from memory.models import Decision, Memory, MemoryReview, MemoryStatus
from memory.uses import fold_memory_uses
from opscore.actions import record_cap_hit
from opscore.db import db_now
from opscore.models import Policy

REVIEWER = "system:memory-review"


def review_due_memories(limit: int = 500) -> dict:
    """At most `limit` due memories a run, longest overdue first; a run cut short counts the
    rest as `deferred` and leaves a row saying so."""
    fold_memory_uses()  # a use still queued is support too
    policy = Policy.objects.value("memory_policy")
    now = db_now()
    counts = {Decision.REFRESH: 0, Decision.EXPIRE: 0, Decision.MARK_STALE: 0}
    due = Memory.objects.active().filter(next_review_at__lte=now)
    batch = list(due.order_by("next_review_at", "id")[: limit + 1])
    for memory in batch[:limit]:
        window = timedelta(days=policy.days(policy.review_days, memory.type))
        decision, reason = judge(memory, now - window)
        apply_review(memory, decision, reason, now + window)
        counts[decision] += 1
    # one whose expiry date came first (in use, refreshed) left prompts: its row says so
    counts[Decision.EXPIRE] += expire_lapsed(Memory.objects.all(), limit=limit)
    counts = {str(k): v for k, v in counts.items()}
    if len(batch) > limit:
        counts["deferred"] = due.count()  # those reviewed are due no longer
        record_cap_hit("review_due_memories", limit, counts["deferred"], actor=REVIEWER)
    return counts


def judge(memory: Memory, since) -> tuple[str, str]:
    """Support is use by a prompt, or new evidence merged in, since the last review window —
    unless the steps that used it kept failing (calibration flagged it, no success since)."""
    if memory.flagged_at and memory.failure_streak():
        return Decision.MARK_STALE, (
            f"flagged by calibration: the last {memory.failure_streak()} steps whose prompts "
            "carried it failed"
        )
    if memory.last_used_at and memory.last_used_at >= since:
        return Decision.REFRESH, f"used by a prompt at {memory.last_used_at:%Y-%m-%d %H:%M}"
    merged = memory.reviews.filter(decision=Decision.MERGE, created_at__gte=since).count()
    if merged:
        return Decision.REFRESH, f"{merged} new piece(s) of evidence since the last review"
    if memory.confidence < 0.6 or memory.stability == "low":
        return Decision.EXPIRE, "nothing supported it during its review window, and it was weak"
    return Decision.MARK_STALE, "nothing supported it during its review window"


def apply_review(memory: Memory, decision: str, reason: str, next_review) -> None:
    if decision == Decision.REFRESH:
        memory.next_review_at = next_review
    else:
        memory.status = MemoryStatus.EXPIRED if decision == Decision.EXPIRE else MemoryStatus.STALE
        memory.valid_to = Now()
    memory.updated_by, memory.flagged_at = REVIEWER, None
    memory.save(update_fields=["next_review_at", "status", "valid_to", "updated_by", "flagged_at"])
    MemoryReview.objects.create(
        decision=decision,
        reviewer=REVIEWER,
        reason=reason,
        memory=memory,
        touched={"memory": memory.id, "status": memory.status},
    )


def expire_lapsed(memories, reviewer: str = REVIEWER, limit: int = 500) -> int:
    """Active memories past their expiry date reach no prompt (Memory.objects.active()), yet
    their row still says active and holds its dedupe key: each becomes `expired`, with a review
    row saying when its date passed, and the key is free for the next memory of that name.
    At most `limit` a call: each one expired matches no longer, so the next call takes the
    rest, and a call cut short leaves a row saying how many wait."""
    lapsed = memories.filter(status=MemoryStatus.ACTIVE, expires_at__lte=Now()).order_by("id")
    with transaction.atomic():
        batch = list(lapsed.select_for_update()[: limit + 1])
        found = batch[:limit]
        for memory in found:
            memory.status, memory.valid_to = MemoryStatus.EXPIRED, Now()
            memory.updated_by = reviewer
            memory.save(update_fields=["status", "valid_to", "updated_by"])
            MemoryReview.objects.create(
                decision=Decision.EXPIRE,
                reviewer=reviewer,
                reason=f"its expiry date {memory.expires_at:%Y-%m-%d %H:%M} passed",
                memory=memory,
                touched={"memory": memory.id, "status": memory.status},
            )
        if len(batch) > limit:
            record_cap_hit("expire_lapsed", limit, lapsed.count(), actor=reviewer)
    return len(found)
