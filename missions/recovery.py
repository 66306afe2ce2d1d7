"""Recovery: release the steps of workers that are gone (seen to exit, gone silent, or whose
lease ran out), and requeue steps whose blocker cleared."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from missions.execution import release_step, step_event
from missions.executors import lookup
from missions.gates import quota_has_room
from missions.models import QUOTA_WAIT, AttemptOutcome, LoopCursor, Step, StepStatus, Worker
from opscore.actions import record_cap_hit
from opscore.budgets import check_budget
from opscore.llm import OverBudget
from opscore.registry import Registry


def reap_expired_leases(limit: int = 200) -> dict:
    """Recover running steps whose worker stopped renewing: idempotent kinds retry (or die after
    max_attempts), non-idempotent kinds wait for a human. Returns counts per outcome."""
    return _release_all(
        Step.objects.with_expired_lease(),
        lambda step: f"worker {step.lease_owner} lost its lease on attempt {step.attempt_count}",
        limit=limit,
        loop="reap_expired_leases",
    )


def release_steps_of_process(
    host: str, pid: int, why: str, outcome: str = AttemptOutcome.LOST
) -> dict:
    """A worker process known to be gone (its supervisor saw it exit, or killed it after the
    shutdown grace) holds nothing any more: release its steps now, not a lease later. Worker
    ids are `host:pid` or `host:pid:slotN` (missions.worker.default_worker_id)."""
    owner = f"{host}:{pid}"
    held = Step.objects.filter(status=StepStatus.RUNNING).filter(
        Q(lease_owner=owner) | Q(lease_owner__startswith=f"{owner}:")
    )
    return _release_all(
        held,
        lambda step: f"worker {step.lease_owner} {why} on attempt {step.attempt_count}",
        outcome=outcome,
        wait=True,  # its rows are nobody else's; wait out a transaction its death is aborting
    )


def release_steps_held_by(worker_id: str, why: str) -> dict:
    """Steps leased to a worker that, by its own account, is running none of them (a claim
    whose answer an outage swallowed): they never ran, so they go back `interrupted`, not
    `lost` — a lost attempt would count, and a step of one attempt would die unrun."""
    return _release_all(
        Step.objects.filter(status=StepStatus.RUNNING, lease_owner=worker_id),
        lambda step: f"worker {worker_id} {why} on attempt {step.attempt_count}",
        outcome=AttemptOutcome.INTERRUPTED,
        wait=True,
        ran=False,  # so even a kind with an outside effect goes ahead: none can have happened
    )


def release_steps_of_silent_workers(limit: int = 200) -> dict:
    """Running steps whose worker's liveness row went stale (no beat, no lease renewal for
    OPS_WORKER_STALE_SECONDS by the database clock): its machine is gone with its supervisor,
    so nobody saw it exit."""
    stale_after = timedelta(seconds=settings.OPS_WORKER_STALE_SECONDS)
    silent = Worker.objects.filter(last_seen_at__lt=Now() - stale_after).values("worker_id")
    return _release_all(
        Step.objects.filter(status=StepStatus.RUNNING, lease_owner__in=silent),
        lambda step: (
            f"worker {step.lease_owner} went silent (no liveness for "
            f"{settings.OPS_WORKER_STALE_SECONDS}s) on attempt {step.attempt_count}"
        ),
        limit=limit,
        loop="release_steps_of_silent_workers",
    )


def _release_all(
    steps, error_for, *, outcome=AttemptOutcome.LOST, limit=200, wait=False, ran=True, loop=""
) -> dict:
    """At most `limit` a call; past the cap, `deferred` counts what waits for the next one, so
    the run's row says the batch was cut short rather than that all was recovered, and a
    `sweep.capped` row says so too (named after `loop`, the caller's own by default)."""
    counts = {"requeued": 0, "dead": 0, "blocked": 0}
    with transaction.atomic():
        locked = steps.select_for_update(skip_locked=not wait).order_by("lease_expires_at", "id")
        batch = list(locked[: limit + 1])
        for step in batch[:limit]:
            counts[release_step(step, error_for(step), outcome, ran=ran)] += 1
        if len(batch) > limit:
            counts["deferred"] = steps.count()
            loop = loop or "release_steps"
            record_cap_hit(loop, limit, counts["deferred"], actor="system:sweeper")
    return counts


def executor_installed(step: Step) -> bool:
    executor = lookup(step.kind)
    return executor is not None and not getattr(executor, "placeholder", False)


def budget_available(step: Step) -> bool:
    try:
        check_budget(step.agent)
    except OverBudget:
        return False
    return True


# Blockers that can clear without a human: code → "has it cleared for this step?". A lane
# registers its own (the coding lane: "has the step's coding run come to rest?").
BLOCKER_CHECKS: Registry = Registry("blocker check")
BLOCKER_CHECKS.register_all(
    {"no_executor": executor_installed, "llm_budget": budget_available, QUOTA_WAIT: quota_has_room}
)
BLOCKED_CURSOR = "blocked_steps"
# What the step.unblocked event says cleared, where "blocker cleared" would not tell.
CLEARED = {QUOTA_WAIT: "a slot of today's {kind} quota is free"}


@transaction.atomic
def requeue_cleared_blockers(limit: int = 200) -> int:
    """Put blocked steps back in the queue once the check for their blocker says it cleared.
    At most `limit` checks a call, rotating through the blocked set by a cursor (last step id
    checked): `limit` steps that never clear must not hide a newer one whose blocker did."""
    requeued = 0
    for step in _next_blocked_batch(limit):
        if not BLOCKER_CHECKS[step.blocked_code](step):
            continue
        why = CLEARED.get(step.blocked_code, "blocker cleared").format(kind=step.kind)
        unblock(step, why, actor="system:sweeper")
        requeued += 1
    return requeued


def _next_blocked_batch(limit: int) -> list[Step]:
    """The `limit` blocked steps after the cursor, wrapping round to the oldest; past the cap,
    the cursor stays at the last one taken and a row records the cut-short pass."""
    cursor, _ = LoopCursor.objects.select_for_update().get_or_create(name=BLOCKED_CURSOR)
    waiting = Step.objects.filter(status=StepStatus.BLOCKED, blocked_code__in=list(BLOCKER_CHECKS))
    blocked = waiting.select_for_update(skip_locked=True).order_by("id")
    batch = list(blocked.filter(id__gt=cursor.position)[: limit + 1])
    if len(batch) <= limit:
        batch += blocked.filter(id__lte=cursor.position)[: limit + 1 - len(batch)]
    capped = len(batch) > limit
    cursor.position = batch[limit - 1].id if capped else 0
    cursor.save(update_fields=["position"])
    if capped:
        record_cap_hit("requeue_cleared_blockers", limit, waiting.count(), actor="system:sweeper")
    return batch[:limit]


def unblock(step: Step, why: str, *, actor: str, tags=()) -> None:
    """Back in the queue, saying what had held it and why it no longer does."""
    reason = step.blocked_reason
    step.requeue()
    step_event(
        step,
        "step.unblocked",
        f"S{step.id} {step.kind} requeued: {why}",
        summary=reason,
        tags=["step", "unblocked", *tags],
        actor=actor,
    )
