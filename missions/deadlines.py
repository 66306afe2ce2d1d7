"""Step deadlines: one attempt runs at most its kind's timeout.

The lease keeper (missions.worker) asks here before it renews a lease. An attempt past its
deadline is timed out under its lease token: the attempt is closed `timed_out`, the step retries
after backoff (dead after max_attempts) or, for a kind with an outside effect, waits for a human,
and another worker can claim it at once. The hung handler's late write is refused by the token
like any lost lease's. Its worker no longer renews, so its liveness row goes stale and its
supervisor kills and replaces it (operations.supervisor).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from missions.breaker import count_failure
from missions.execution import close_attempt, settle_failure, step_event
from missions.models import AttemptOutcome, Step, StepAttempt, StepStatus
from opscore.actions import record_cap_hit
from opscore.registry import STEP_KINDS


def step_timeout(kind: str) -> int:
    declared = STEP_KINDS.get(kind)
    seconds = declared.timeout_seconds if declared is not None else None
    return seconds or settings.OPS_STEP_TIMEOUT_SECONDS


def time_out_if_overdue(step_id: int, token, timeout_seconds: int) -> bool:
    """Time out the attempt under `token` if it started more than `timeout_seconds` ago by the
    database clock. Returns whether it did; False also when the lease is gone already."""
    overdue = (
        Step.objects.filter(pk=step_id)
        .holding_lease(token)
        .filter(
            attempts__lease_token=token,
            attempts__started_at__lt=Now() - timedelta(seconds=timeout_seconds),
        )
    )
    with transaction.atomic():
        step = overdue.select_for_update(of=("self",)).first()
        if step is None:
            return False
        time_out(step, timeout_seconds)
    return True


def time_out_overdue_attempts(limit: int = 200) -> dict:
    """The sweeper's look at every running attempt, whoever runs it: an outside runtime's job
    (the agent bus) has no lease keeper of ours and may renew its lease, or claim one of a
    day, for ever. Past its kind's deadline it is timed out here as the keeper times out a
    worker's. At most `limit` a call; `deferred` counts what waits for the next one."""
    overdue = (
        Step.objects.filter(past_deadline()).order_by("id").values_list("id", "lease_token", "kind")
    )
    batch = list(overdue[: limit + 1])
    counts = {"timed_out": 0}
    for step_id, token, kind in batch[:limit]:
        counts["timed_out"] += time_out_if_overdue(step_id, token, step_timeout(kind))
    if len(batch) > limit:
        counts["deferred"] = overdue.count()  # those timed out match no longer
        record_cap_hit(
            "time_out_overdue_attempts", limit, counts["deferred"], actor="system:sweeper"
        )
    return counts


def past_deadline() -> Q:
    """Running steps whose open attempt started longer ago than their kind's timeout, each
    kind that declares one by its own (so a kind given hours never crowds out the rest)."""
    running = Q(status=StepStatus.RUNNING, attempts__outcome=AttemptOutcome.RUNNING)
    declared = {k.name: k.timeout_seconds for k in STEP_KINDS.values() if k.timeout_seconds}
    default = settings.OPS_STEP_TIMEOUT_SECONDS
    late = Q(attempts__started_at__lt=Now() - timedelta(seconds=default))
    late &= ~Q(kind__in=list(declared))
    for kind, seconds in declared.items():
        late |= Q(kind=kind, attempts__started_at__lt=Now() - timedelta(seconds=seconds))
    return running & late


def time_out(step: Step, timeout_seconds: int) -> None:
    reason = (
        f"attempt {step.attempt_count} by {step.lease_owner} ran past its "
        f"{timeout_seconds}s timeout; the lease was not renewed"
    )
    attempt = StepAttempt.objects.get(step=step, lease_token=step.lease_token)
    close_attempt(attempt, AttemptOutcome.TIMED_OUT, reason)
    step_event(
        step,
        "step.timed_out",
        f"S{step.id} {step.kind} timed out after {timeout_seconds}s",
        summary=reason,
        tags=["step", "timed_out", step.kind],
        payload={"attempt": step.attempt_count, "timeout_seconds": timeout_seconds},
        actor="system:deadline",
    )
    declared = STEP_KINDS.get(step.kind)
    if declared is not None and not declared.idempotent:
        human = f"{reason}; {step.kind} is not idempotent, so a human decides whether to retry"
        step.block(human, "needs_human", error=reason)
    else:
        settle_failure(step, reason, retryable=True)
    count_failure(step)
