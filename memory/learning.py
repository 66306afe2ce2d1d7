"""The heartbeat's learning duties: outcomes (metrics, missions, calibration) and the insight
fast path. Cheap and deterministic: no LLM call, every read bounded, every write through the
gate or a model method."""

import time

from django.db import transaction
from django.db.models import Count, Max, Min, Value

from memory.calibration import calibrate_step
from memory.feedback_learning import learn_from_feedback
from memory.gate import GATE, HELD, review_candidate
from memory.models import (
    CandidateStatus,
    Decision,
    MemoryCandidate,
    MemoryReview,
    MemoryScope,
    MemoryType,
)
from memory.outcomes import learn_from_metrics, learn_from_mission
from missions.models import LoopCursor
from opscore.actions import record_cap_hit, record_event
from opscore.lanes import pause_of
from opscore.models import Event, Policy

CURSOR = "memory.outcomes"
LANE = "memory"
DROPPED = "memory.learning_dropped"
MISSION_ENDINGS = ["mission.succeeded", "mission.failed"]
STEP_ENDINGS = ["step.succeeded", "step.failed", "step.dead"]
FEEDBACK = ["feedback.recorded"]
BATCH = 200
FAST_PATH_BATCH = 50
PROMOTER = "system:promote-insights"


def learn_from_outcomes(deadline: float) -> dict:
    return learn_from_metrics() | learn_from_endings(deadline)


def learn_from_endings(deadline: float) -> dict:
    """Mission endings and step endings since the cursor (in log order, Event.objects.after:
    one whose transaction committed late is still ahead of it), one transaction per batch: the
    cursor moves with the rows it produced, so an event is learned from exactly once. An
    ending a drop pause refused is passed over, never learned from (dropped_ranges)."""
    counts = {"missions": {}, "feedback": {}, "calibrated_steps": 0, "flagged": [], "events": 0}
    while time.monotonic() < deadline:
        with transaction.atomic():
            cursor, _ = LoopCursor.objects.select_for_update().get_or_create(name=CURSOR)
            events = list(
                endings()
                .after(cursor.position)
                .values("id", "kind", "mission_id", "step_id", "payload")[:BATCH]
            )
            if not events:
                return counts
            policy = Policy.objects.value("calibration_policy")  # once a batch, not per event
            dropped = dropped_ranges(cursor.position)
            for event in events:
                if any(first <= event["id"] <= last for first, last in dropped):
                    counts["dropped_before"] = counts.get("dropped_before", 0) + 1
                else:
                    learn_or_skip(event, counts, policy)
            cursor.position = events[-1]["id"]
            cursor.save(update_fields=["position"])
            counts["events"] += len(events)
    return counts | {"deferred": "budget"}


def endings():
    return Event.objects.filter(kind__in=MISSION_ENDINGS + STEP_ENDINGS + FEEDBACK)


def dropped_ranges(after: int) -> list[tuple[int, int]]:
    """The endings drop pauses refused past the cursor `after`, as (first, last) ids. A drop
    is recorded after the endings it names, so its event is past the cursor too: the read
    (event_kind_idx) sees a handful of rows, a drop pause writing one a beat at most."""
    drops = Event.objects.filter(kind=DROPPED).after(after).values_list("payload", flat=True)
    return [(drop["first_event_id"], drop["last_event_id"]) for drop in drops]


def drop_endings(why: str) -> dict:
    """The memory lane paused in drop mode: the endings that arrive once the pause took hold
    are never learned from, even after the lift; each beat's are named by one event saying
    how many and why (the endings themselves stay in the ledger). Those that arrived before
    it and were not read yet (the heartbeat learns every minute) wait for the lift, as work
    queued before a drop pause does: learned now, their candidates would meet a gate that
    rejects them. While none waits the cursor moves past the dropped ones; otherwise it
    stays, and the learner passes them over after the lift."""
    pause = pause_of(LANE)
    if pause is None:
        return {"dropped": 0}
    with transaction.atomic():
        cursor, _ = LoopCursor.objects.select_for_update().get_or_create(name=CURSOR)
        unread = endings().after(cursor.position)
        waiting = arrived_before(unread, pause.since)
        refused = [last for _, last in dropped_ranges(cursor.position)]
        arrived = unread.filter(id__gt=max(cursor.position, waiting["last"] or 0, *refused))
        dropped = arrived.aggregate(count=Count("id"), first=Min("id"), last=Max("id"))
        if dropped["count"]:
            record_drop(dropped, why)
            if not waiting["count"]:  # nothing to learn from before them: the cursor passes
                cursor.position = arrived.reverse().values_list("id", flat=True).first()
                cursor.save(update_fields=["position"])
    return {"dropped": dropped["count"]} | (
        {"waiting": waiting["count"]} if waiting["count"] else {}
    )


def arrived_before(unread, since) -> dict:
    """The unread endings recorded before the pause took hold: how many, and the last id."""
    before = unread.filter(created_at__lt=since) if since else unread.none()
    return before.aggregate(count=Count("id"), last=Max("id"))


def record_drop(dropped: dict, why: str) -> None:
    count = dropped["count"]
    record_event(
        DROPPED,
        f"Learning dropped {count} ending(s) that arrived while the memory lane was paused",
        summary=f"dropped: {why}"[:500],
        tags=["memory", "learning", "dropped"],
        payload={
            "first_event_id": dropped["first"],
            "last_event_id": dropped["last"],
            "count": count,
        },
        actor="system:outcome-learning",
    )


def learn_or_skip(event: dict, counts: dict, policy) -> None:
    """One event that cannot be learned from (say, an ending naming no mission) is passed with
    a recorded reason rather than retried: raising, it held the cursor and the lane learned
    nothing more, every beat failing on it again."""
    try:
        with transaction.atomic():
            learn_from_event(event, counts, policy)
    except Exception as error:  # one event's problem, recorded; never the lane's
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        record_event(
            "memory.learning_skipped",
            f"Learning skipped event {event['id']} ({event['kind']})",
            summary=reason,
            tags=["memory", "learning", "skipped"],
            payload={"event_id": event["id"], "kind": event["kind"], "reason": reason},
            actor="system:outcome-learning",
        )
        counts.setdefault("skipped", []).append(event["id"])


def learn_from_event(event: dict, counts: dict, policy) -> None:
    if event["kind"] in FEEDBACK:
        outcome = learn_from_feedback((event["payload"] or {}).get("feedback_id"))
        counts["feedback"][outcome] = counts["feedback"].get(outcome, 0) + 1
        return
    if event["kind"] in MISSION_ENDINGS:
        outcome = learn_from_mission(event["mission_id"])
        counts["missions"][outcome] = counts["missions"].get(outcome, 0) + 1
        return
    if not policy.enabled or event["step_id"] is None:
        return
    done = calibrate_step(event["step_id"], event["kind"] == "step.succeeded", policy, event["id"])
    counts["calibrated_steps"] += bool(done["calibrated"])
    counts["flagged"] += done["flagged"]


def promote_insights(deadline: float) -> dict:
    """The gate's per-beat work: what a queue pause held back, then the insight fast path."""
    held = review_held(deadline)
    return fast_path(deadline) | ({"held": held} if held else {})


def review_held(deadline: float) -> dict:
    """The review a pause of the memory lane (queue) held back, now that the lane runs again:
    each held candidate still new, for the reviewer that asked. Frozen promotions or
    auto_promote_private switched off leave them to the gate's promotion run."""
    policy = Policy.objects.value("memory_policy")
    if policy.frozen or not policy.auto_promote_private:
        return {}
    held = MemoryReview.objects.filter(
        decision=Decision.SKIPPED,
        touched__held=HELD,
        candidate__status=CandidateStatus.NEW,
        candidate__untrusted_reason="",  # untrusted evidence since joined it: for a person
    ).order_by("candidate_id")
    pairs = held.values_list("candidate_id", "reviewer")
    left = held.values("candidate_id").distinct()
    return review_batch("review_held_candidates", pairs, left, {}, deadline, policy)


def review_batch(loop: str, pairs, left, counts: dict, deadline: float, policy=None) -> dict:
    """Each (candidate, reviewer) of `pairs`, at most FAST_PATH_BATCH a beat: one reviewed is
    new no longer, so the next beat takes the rest. A beat cut short by the batch counts what
    is `left` as `deferred` and leaves a `sweep.capped` row; one cut short by the heartbeat's
    time says `budget` (the heartbeat's own row has its time)."""
    batch = list(pairs[: FAST_PATH_BATCH + 1])
    for candidate_id, reviewer in batch[:FAST_PATH_BATCH]:
        if time.monotonic() > deadline:
            return counts | {"deferred": "budget"}
        review = review_candidate(candidate_id, reviewer=reviewer, policy=policy)
        if review is not None:
            counts[review.decision] = counts.get(review.decision, 0) + 1
    if len(batch) > FAST_PATH_BATCH:
        counts["deferred"] = left.count()  # those reviewed wait no longer
        record_cap_hit(loop, FAST_PATH_BATCH, counts["deferred"], actor=GATE)
    return counts


def fast_path(deadline: float) -> dict:
    """The gate's fast path: an agent's own high-confidence insight need not wait for the
    promotion run. Promoted, it is announced as `insight.promoted`, which the insight_promoted
    trigger turns into work; everything else still waits for the gate's run. One derived from
    untrusted words waits for a person, as in the gate's run: reviewed here, it wrote a
    `skipped` row every beat, and fifty of them filled the batch ahead of every trusted one.
    Frozen promotions: nothing is reviewed here (the override says why, and the gate's run
    records its `skipped` row); reviewed, each waiting insight wrote one every beat."""
    policy = Policy.objects.value("memory_policy")
    waiting = MemoryCandidate.objects.filter(
        status=CandidateStatus.NEW,
        untrusted_reason="",
        kind=MemoryType.INSIGHT,
        scope=MemoryScope.AGENT,
        confidence__gte=policy.insight_fast_path_confidence,
    ).order_by("id")
    if policy.frozen:
        return {"frozen": waiting.count()}
    pairs = waiting.values_list("id", Value(PROMOTER))
    return review_batch("insight_fast_path", pairs, waiting, {"promote": 0}, deadline, policy)
