"""Outcome-calibrated confidence: a memory a step's prompt carried earns a little confidence
when the step succeeds and loses more when it fails, bounded by policy, with a log on the memory.

The asymmetry is deliberate: a memory that keeps preceding failures should lose standing faster
than a lucky one gains it, and after a streak of failures it is flagged for review (and marked
stale at that review unless a success breaks the streak first).
"""

from memory.models import Decision, Memory, MemoryReview
from opscore.db import db_now
from opscore.models import LLMCall

REVIEWER = "system:calibration"


def memories_carried(step_id: int) -> list[int]:
    """Every memory any prompt of this step carried (retries included), in first-use order."""
    ids: list[int] = []
    for injected in LLMCall.objects.filter(step_id=step_id).values_list("injected", flat=True):
        ids += [i for i in (injected or {}).get("memory_ids", []) if i not in ids]
    return ids


def calibrate_step(step_id: int, succeeded: bool, policy, event_id: int) -> dict:
    """Each log entry says when the confidence moved (`at`, the database's clock): the heartbeat
    learns from an ending minutes after it, and a replay must put back what a call in between
    read, not date the move by the step's ending."""
    ids = memories_carried(step_id)
    flagged = []
    note = {"step": step_id, "event": event_id, "at": db_now().isoformat()}
    for memory in Memory.objects.active().select_for_update().filter(pk__in=ids).order_by("id"):
        if memory.calibrate(succeeded, policy, note):
            flagged.append(memory.id)
            flag_for_review(memory, policy.flag_after_failures, step_id)
    return {"calibrated": len(ids), "flagged": flagged}


def flag_for_review(memory: Memory, streak: int, step_id: int) -> MemoryReview:
    return MemoryReview.objects.create(
        decision=Decision.FLAG,
        reviewer=REVIEWER,
        reason=f"preceded {streak} failures in a row (the latest: step {step_id})",
        memory=memory,
        touched={"memory": memory.id, "confidence": float(memory.confidence)},
    )
