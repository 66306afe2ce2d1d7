"""Recovery: reap leases whose worker vanished, and requeue steps whose blocker cleared."""

from django.db import transaction

from missions.breaker import count_failure
from missions.execution import close_attempt, settle_failure, step_event
from missions.executors import lookup
from missions.models import AttemptOutcome, Step, StepAttempt, StepStatus
from opscore.budgets import check_budget
from opscore.llm import OverBudget
from opscore.registry import STEP_KINDS, Registry


def reap_expired_leases(limit: int = 200) -> dict:
    """Recover running steps whose worker stopped renewing: idempotent kinds retry (or die after
    max_attempts), non-idempotent kinds wait for a human. Returns counts per outcome."""
    counts = {"requeued": 0, "dead": 0, "blocked": 0}
    with transaction.atomic():
        expired = (
            Step.objects.with_expired_lease()
            .select_for_update(skip_locked=True)
            .order_by("lease_expires_at")[:limit]
        )
        for step in expired:
            counts[_reap(step)] += 1
    return counts


def _reap(step: Step) -> str:
    attempt = StepAttempt.objects.filter(step=step, lease_token=step.lease_token).first()
    error = f"worker {step.lease_owner} lost its lease on attempt {step.attempt_count}"
    if attempt:
        close_attempt(attempt, AttemptOutcome.LOST, error)
    kind = STEP_KINDS.get(step.kind)
    if kind is not None and not kind.idempotent:
        reason = f"{error}; {step.kind} is not idempotent, so a human decides whether to retry"
        step.block(reason, "needs_human", error=error)
        step_event(
            step,
            "step.blocked",
            f"S{step.id} {step.kind} blocked",
            summary=reason,
            tags=["step", "blocked", "worker_lost"],
            actor="system:reaper",
        )
        return "blocked"
    step.lease_owner = ""
    settle_failure(step, error, retryable=True)
    count_failure(step)
    return "requeued" if step.status == StepStatus.QUEUED else "dead"


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
BLOCKER_CHECKS.register_all({"no_executor": executor_installed, "llm_budget": budget_available})


@transaction.atomic
def requeue_cleared_blockers(limit: int = 200) -> int:
    """Put blocked steps back in the queue once the check for their blocker says it cleared."""
    requeued = 0
    blocked = (
        Step.objects.filter(status=StepStatus.BLOCKED, blocked_code__in=list(BLOCKER_CHECKS))
        .select_for_update(skip_locked=True)
        .order_by("id")[:limit]
    )
    for step in blocked:
        if not BLOCKER_CHECKS[step.blocked_code](step):
            continue
        unblock(step, "blocker cleared", actor="system:sweeper")
        requeued += 1
    return requeued


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
