"""Durable execution: claim a step under a lease, record its outcome under the same lease,
reap leases whose worker vanished. Postgres rows are the truth; every write here is fenced by the
lease token, and every clock reading is the database's `statement_timestamp()` — the clock
Django's `Now()` reads (`now()` would stand still for a whole transaction)."""

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now

from missions.actions import finalize_mission
from missions.executors import Blocked, Failed, Outcome, Succeeded
from missions.models import (
    AttemptOutcome,
    Mission,
    MissionStatus,
    OutboxMessage,
    Step,
    StepAttempt,
    StepStatus,
    in_seconds,
)
from missions.step_kinds import STEP_KINDS
from opscore.actions import record_event, set_policy
from opscore.models import Policy
from opscore.policies import PolicyError
from opscore.redaction import redact_text

log = logging.getLogger(__name__)

CANDIDATES_SQL = """
SELECT s.id, s.agent_id, a.max_concurrent_steps
FROM missions_step s
JOIN opscore_agent a ON a.slug = s.agent_id
WHERE s.status = 'queued' AND s.run_after <= statement_timestamp() AND a.enabled
  AND NOT (s.kind = ANY(%(off_kinds)s))
  AND NOT EXISTS (
      SELECT 1 FROM missions_stepdependency d
      JOIN missions_step p ON p.id = d.depends_on_id
      WHERE d.step_id = s.id AND p.status <> 'succeeded')
ORDER BY s.priority DESC, s.run_after, s.id
FOR UPDATE OF s SKIP LOCKED
LIMIT %(batch)s
"""

CLAIM_SQL = """
UPDATE missions_step
SET status = 'running', lease_owner = %(worker)s, lease_token = gen_random_uuid(),
    lease_expires_at = statement_timestamp() + make_interval(secs => %(lease)s),
    attempt_count = attempt_count + 1, updated_at = statement_timestamp()
WHERE id = %(id)s
RETURNING lease_token, attempt_count
"""


def switched_off_kinds() -> list[str]:
    switches = Policy.objects.value("worker_switches")
    return sorted(kind for kind, on in switches.kinds.items() if not on)


def _agent_has_room(agent_id: str, limit: int) -> bool:
    """Serialise claims per agent until commit, then count what it is already running."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('opscore.agent.' || %s))", [agent_id])
        cursor.execute(
            "SELECT count(*) FROM missions_step WHERE agent_id = %s AND status = 'running'",
            [agent_id],
        )
        return cursor.fetchone()[0] < limit


def claim_next_step(worker_id: str, *, lease_seconds: int | None = None, batch: int = 8):
    """Lease the most urgent ready step whose agent has room, or return None."""
    lease = lease_seconds or settings.OPS_LEASE_SECONDS
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(CANDIDATES_SQL, {"off_kinds": switched_off_kinds(), "batch": batch})
            candidates = cursor.fetchall()
        full = set()
        for step_id, agent_id, limit in candidates:
            if agent_id in full or not _agent_has_room(agent_id, limit):
                full.add(agent_id)
                continue
            return _lease(step_id, worker_id, lease)
    return None


def _lease(step_id: int, worker_id: str, lease_seconds: int) -> Step:
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, {"worker": worker_id, "lease": lease_seconds, "id": step_id})
        token, attempt_no = cursor.fetchone()
    StepAttempt.objects.create(
        step_id=step_id, attempt_no=attempt_no, worker_id=worker_id, lease_token=token
    )
    step = Step.objects.select_related("agent").get(pk=step_id)
    Mission.objects.filter(pk=step.mission_id, status=MissionStatus.APPROVED).update(
        status=MissionStatus.RUNNING
    )
    return step


def renew_lease(step_id: int, token, lease_seconds: int | None = None) -> bool:
    """Extend a lease the caller still holds. False means the lease is gone: stop working."""
    lease = lease_seconds or settings.OPS_LEASE_SECONDS
    return bool(
        Step.objects.filter(pk=step_id)
        .holding_lease(token)
        .update(lease_expires_at=in_seconds(lease), updated_at=Now())
    )


def backoff_seconds(attempt_count: int) -> float:
    base = settings.OPS_RETRY_BASE_SECONDS
    return min(base * 2 ** max(attempt_count - 1, 0), settings.OPS_RETRY_MAX_SECONDS)


def record_outcome(step_id: int, token, outcome: Outcome) -> bool:
    """Apply an executor's outcome if the caller still holds the lease. A late writer — one
    whose lease expired and was taken by another worker — is refused, and the refusal is an
    event. Returns whether the outcome was applied."""
    with transaction.atomic():
        step = Step.objects.select_for_update().filter(pk=step_id).holding_lease(token).first()
        if step is None:
            _record_late_write(step_id, token, outcome)
            return False
        attempt = StepAttempt.objects.get(step=step, lease_token=token)
        if isinstance(outcome, Succeeded):
            _succeed(step, attempt, outcome)
        elif isinstance(outcome, Blocked):
            _block(step, attempt, outcome.reason, outcome.code, AttemptOutcome.BLOCKED)
        else:
            _fail(step, attempt, outcome)
    return True


def _release(step: Step, status: str) -> None:
    step.status = status
    step.lease_token = step.lease_expires_at = None
    step.lease_owner = ""
    step.updated_at = Now()


def _close_attempt(attempt: StepAttempt, outcome: str, error: str = "") -> None:
    attempt.outcome, attempt.error, attempt.finished_at = outcome, error, Now()
    attempt.save(update_fields=["outcome", "error", "finished_at"])


def _step_event(step: Step, kind: str, title: str, **extra) -> None:
    record_event(
        kind,
        title,
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=extra.pop("actor", f"worker:{step.lease_owner}" if step.lease_owner else "system"),
        **extra,
    )


def _succeed(step: Step, attempt: StepAttempt, outcome: Succeeded) -> None:
    for effect in outcome.effects:
        OutboxMessage.objects.get_or_create(
            key=effect.key,
            defaults={"step": step, "channel": effect.channel, "payload": effect.payload},
        )
    worker = step.lease_owner
    _release(step, StepStatus.SUCCEEDED)
    step.result, step.last_error, step.finished_at = outcome.result, "", Now()
    step.save()
    _close_attempt(attempt, AttemptOutcome.SUCCEEDED)
    _step_event(
        step,
        "step.succeeded",
        f"S{step.id} {step.kind} succeeded",
        tags=["step", "succeeded", step.kind],
        actor=f"worker:{worker}",
    )
    finalize_mission(step.mission)


def _block(step: Step, attempt: StepAttempt, reason: str, code: str, attempt_outcome: str):
    worker = step.lease_owner
    _release(step, StepStatus.BLOCKED)
    step.blocked_reason, step.blocked_code = redact_text(reason), code
    step.save()
    _close_attempt(attempt, attempt_outcome, reason)
    _step_event(
        step,
        "step.blocked",
        f"S{step.id} {step.kind} blocked",
        summary=step.blocked_reason,
        tags=["step", "blocked", code],
        actor=f"worker:{worker}",
    )


def _fail(step: Step, attempt: StepAttempt, outcome: Failed) -> None:
    error = redact_text(outcome.error)[:4000]
    _close_attempt(attempt, AttemptOutcome.FAILED, error)
    _settle_failure(step, error, retryable=outcome.retryable)
    trip_breaker_if_needed(step.kind)


def _settle_failure(step: Step, error: str, *, retryable: bool) -> None:
    """Retry with backoff while attempts remain; otherwise failed (not retryable) or dead."""
    worker = step.lease_owner
    step.last_error = error
    if retryable and step.attempt_count < step.max_attempts:
        delay = backoff_seconds(step.attempt_count)
        _release(step, StepStatus.QUEUED)
        step.run_after = in_seconds(delay)
        step.save()
        kind, title = "step.retrying", f"S{step.id} {step.kind} will retry in {delay:.0f}s"
    else:
        final = StepStatus.DEAD if retryable else StepStatus.FAILED
        _release(step, final)
        step.finished_at = Now()
        step.save()
        kind, title = f"step.{final}", f"S{step.id} {step.kind} {final}"
        cancel_dependents(step)
    _step_event(
        step,
        kind,
        title,
        summary=error,
        tags=["step", kind.split(".")[1], step.kind],
        payload={"attempt": step.attempt_count, "max_attempts": step.max_attempts},
        actor=f"worker:{worker}" if worker else "system:reaper",
    )
    if step.status != StepStatus.QUEUED:
        finalize_mission(step.mission)


def cancel_dependents(step: Step) -> int:
    """Steps waiting on one that can no longer succeed will never run: say so on each."""
    cancelled, frontier = 0, [step.id]
    while frontier:
        waiting = Step.objects.filter(
            dependency_links__depends_on_id__in=frontier, status=StepStatus.QUEUED
        )
        frontier = list(waiting.values_list("id", flat=True))
        cancelled += waiting.update(
            status=StepStatus.CANCELLED,
            last_error=f"dependency S{step.id} ended {step.status}",
            finished_at=Now(),
            updated_at=Now(),
        )
    return cancelled


def _record_late_write(step_id: int, token, outcome: Outcome) -> None:
    step = Step.objects.filter(pk=step_id).first()
    attempt = StepAttempt.objects.filter(step_id=step_id, lease_token=token).first()
    record_event(
        "step.late_write_refused",
        f"S{step_id}: a late {type(outcome).__name__.lower()} from a lost lease was refused",
        summary=f"attempt {attempt.attempt_no if attempt else '?'} by "
        f"{attempt.worker_id if attempt else '?'}; the step is now {step.status if step else '?'}",
        tags=["step", "fencing", "refused"],
        payload={"attempt": attempt.attempt_no if attempt else None},
        agent_id=step.agent_id if step else None,
        mission_id=step.mission_id if step else None,
        step=step,
        actor=f"worker:{attempt.worker_id}" if attempt else "worker:unknown",
    )


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
        _close_attempt(attempt, AttemptOutcome.LOST, error)
    kind = STEP_KINDS.get(step.kind)
    if kind is not None and not kind.idempotent:
        reason = f"{error}; {step.kind} is not idempotent, so a human decides whether to retry"
        _release(step, StepStatus.BLOCKED)
        step.blocked_reason, step.blocked_code, step.last_error = reason, "needs_human", error
        step.save()
        _step_event(
            step,
            "step.blocked",
            f"S{step.id} {step.kind} blocked",
            summary=reason,
            tags=["step", "blocked", "worker_lost"],
            actor="system:reaper",
        )
        return "blocked"
    step.lease_owner = ""
    _settle_failure(step, error, retryable=True)
    trip_breaker_if_needed(step.kind)
    return "requeued" if step.status == StepStatus.QUEUED else "dead"


def trip_breaker_if_needed(kind: str) -> bool:
    """After N consecutive failed or lost attempts of one kind (since the worker switches last
    changed), turn that kind's worker switch off and raise an alert."""
    threshold = settings.OPS_BREAKER_THRESHOLD
    switches = Policy.objects.filter(key="worker_switches").first()
    recent = StepAttempt.objects.filter(step__kind=kind, finished_at__isnull=False)
    if switches:
        recent = recent.filter(finished_at__gte=switches.updated_at)
    outcomes = list(
        recent.order_by("-finished_at", "-id").values_list("outcome", flat=True)[:threshold]
    )
    failing = {AttemptOutcome.FAILED, AttemptOutcome.LOST}
    if len(outcomes) < threshold or not set(outcomes) <= failing:
        return False
    current = Policy.objects.value("worker_switches")
    if not current.is_enabled(kind):
        return False
    try:
        with transaction.atomic():
            set_policy(
                "worker_switches",
                {"kinds": current.kinds | {kind: False}},
                actor="system:breaker",
                reason=f"{threshold} consecutive failures of {kind}",
            )
    except PolicyError as refused:  # never let the breaker break the reaper
        log.warning("breaker could not switch %s off: %s", kind, refused)
        return False
    record_event(
        "breaker.tripped",
        f"Circuit breaker: workers for {kind} switched off after {threshold} failures",
        summary="Turn it back on in the admin (Policies → worker_switches) when fixed.",
        tags=["alert", "breaker", kind],
        payload={"kind": kind, "threshold": threshold},
        actor="system:breaker",
    )
    return True


def executor_installed(step: Step) -> bool:
    from missions.executors import lookup

    executor = lookup(step.kind)
    return executor is not None and not getattr(executor, "placeholder", False)


# Blockers that can clear without a human: code → "has it cleared for this step?"
BLOCKER_CHECKS = {"no_executor": executor_installed}


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
        reason = step.blocked_reason
        step.status, step.blocked_reason, step.blocked_code = StepStatus.QUEUED, "", ""
        step.run_after = step.updated_at = Now()
        step.save()
        _step_event(
            step,
            "step.unblocked",
            f"S{step.id} {step.kind} requeued: blocker cleared",
            summary=reason,
            tags=["step", "unblocked"],
            actor="system:sweeper",
        )
        requeued += 1
    return requeued
