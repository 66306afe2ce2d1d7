"""Review of memories that are due: refreshed while something still supports them, otherwise
expired (weak ones) or marked stale (for a human to look at) — each with a review row."""

from datetime import timedelta

from django.db import transaction
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now

from memory.models import Decision, Memory, MemoryReview, MemoryStatus, Visibility
from memory.uses import fold_memory_uses
from opscore.actions import record_cap_hit, record_event
from opscore.db import db_now
from opscore.models import Policy

REVIEWER = "system:memory-review"
# How useful a memory still is: confidence, raised by use, decaying over 90 days unused.
# Its columns named with the table's: a cap's pool may join the memory's candidate.
USEFULNESS = """m.confidence * (1 + ln(1 + m.use_count)) / (1 + extract(epoch FROM
    statement_timestamp() - coalesce(m.last_used_at, m.created_at)) / 86400.0 / 90)""".replace(
    "m.", "memory_memory."
)


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


def cap_of(memory: Memory, policy) -> tuple:
    """The active memories a new one counts against, their cap, and what that cap is of. An
    agent's cap counts its private memories only: a shared one it wrote is under its scope's
    cap, and every agent's prompts would lose it to this agent's. What an outside runtime wrote
    through the agent bus has a cap of its own: a runtime sending candidates by volume retires
    its own least useful, never what the agent learned from Opscore's own evidence."""
    active = Memory.objects.active()
    if memory.visibility == Visibility.SHARED:
        pool = active.filter(visibility=Visibility.SHARED, scope=memory.scope)
        return pool, policy.max_active_shared_per_scope, "active memories"
    mine = active.filter(agent=memory.agent_id, visibility=Visibility.PRIVATE)
    if memory.written_by_runtime:
        cap = policy.max_active_from_runtime_per_agent
        return mine.by_runtime(), cap, "active memories its runtime wrote"
    return mine.by_runtime(False), policy.max_active_per_agent, "active memories"


def archive_beyond_caps(memory: Memory, reviewer: str, policy, actor: str) -> int:
    """Keep the active set small: over the cap, the least useful memories retire (a confident
    memory nobody used for months before a modest one in daily use), each with a review row
    and an event saying so."""
    pool, cap, what = cap_of(memory, policy)
    surplus = pool.count() - cap
    if surplus <= 0:
        return 0
    reason = f"over the cap of {cap} {what}: the least useful (use, age, confidence)"
    least = pool.exclude(pk=memory.pk).annotate(usefulness=RawSQL(USEFULNESS, []))
    for old in least.order_by("usefulness", "id")[:surplus]:
        old.status, old.valid_to, old.updated_by = MemoryStatus.ARCHIVED, Now(), reviewer
        old.save(update_fields=["status", "valid_to", "updated_by"])
        MemoryReview.objects.create(
            decision=Decision.ARCHIVE,
            reviewer=reviewer,
            reason=reason,
            memory=old,
            touched={"archived": old.id, "usefulness": round(old.usefulness, 4)},
        )
        record_event(
            "memory.archived",
            f"{old.agent_id} retired: {old.title or old.content[:80]}",
            summary=reason,
            tags=["memory", "archived", old.type, old.visibility],
            payload={"memory_id": old.id, "cap": cap, "usefulness": round(old.usefulness, 4)},
            agent_id=old.agent_id,
            actor=actor,
        )
    return surplus
