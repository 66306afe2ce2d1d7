"""Durable execution: claim a step under a lease, record its outcome under the same lease,
reap leases whose worker vanished. Postgres rows are the truth; every write here is fenced by the
lease token, and every clock reading is the database's `statement_timestamp()` — the clock
Django's `Now()` reads (`now()` would stand still for a whole transaction)."""

import contextlib
import json
import logging

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Now

from missions.actions import finalize_mission
from missions.executors import Blocked, Failed, Outcome, Succeeded
from missions.models import (
    Artifact,
    AttemptOutcome,
    OutboxMessage,
    Step,
    StepAttempt,
    StepStatus,
    Worker,
    in_seconds,
)
from missions.step_kinds import STEP_KINDS
from opscore.actions import record_event, set_policy
from opscore.models import Policy
from opscore.policies import PolicyError
from opscore.redaction import redact, redact_text

log = logging.getLogger(__name__)


def switched_off_kinds() -> list[str]:
    switches = Policy.objects.value("worker_switches")
    return sorted(kind for kind, on in switches.kinds.items() if not on)


# What a worker needs of the step it claims; the rest (timestamps, errors, result) stays
# deferred — loaded on first access — so the hot path does not decode columns nobody reads.
CLAIMED_FIELDS = [
    "id",
    "mission",
    "position",
    "kind",
    "payload",
    "status",
    "agent",
    "priority",
    "lease_owner",
    "lease_token",
    "attempt_count",
    "max_attempts",
    "dedupe_key",
]
STEP_FIELDS = [Step._meta.get_field(name) for name in CLAIMED_FIELDS]
STEP_COLUMNS = ", ".join(f.column for f in STEP_FIELDS)
CLAIM_SQL = f"SELECT {STEP_COLUMNS} FROM opscore_claim_step(%s::text, %s::float8)"
COMPLETE_AND_CLAIM_SQL = (
    f"SELECT {STEP_COLUMNS} FROM opscore_complete_and_claim("
    "%s::bigint, %s::uuid, %s::jsonb, %s::text, %s::float8)"
)
LEASE_LOST = "OPS01"
DEADLOCK = "40P01"


def claim_next_step(worker_id: str, *, lease_seconds: float | None = None):
    """Lease the most urgent ready step whose agent has room, or return None.

    One round trip to `opscore_claim_step` (migrations 0005, 0019): ready means queued, due by the
    database clock, every dependency succeeded, its agent enabled and under its concurrency
    limit, and its kind not switched off. Rows are locked with FOR UPDATE SKIP LOCKED, so
    concurrent workers never wait on each other or take the same step.
    """
    lease = lease_seconds or settings.OPS_LEASE_SECONDS
    return _fetch_step(CLAIM_SQL, [worker_id, lease])


def _fetch_step(sql: str, params: list) -> Step | None:
    """Run a hot-path call as a prepared statement with server-side binding: once per
    connection the server parses and plans it, and the client never quotes values."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return _step_from_row(cursor.fetchone())


def _step_from_row(row) -> Step | None:
    if row is None:
        return None
    values = [
        f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
        for f, v in zip(STEP_FIELDS, row, strict=True)
    ]
    return Step.from_db("default", [f.attname for f in STEP_FIELDS], values)


def complete_and_claim_next(step: Step, outcome: Succeeded, worker_id: str) -> Step | None:
    """The fast path for a success without effects: record it and lease the worker's next step
    in one round trip. A lost lease is refused as in `record_outcome`, then we claim normally."""
    result = json.dumps(redact(outcome.result))
    params = [step.id, step.lease_token, result, worker_id, settings.OPS_LEASE_SECONDS]
    try:
        return _fetch_step(COMPLETE_AND_CLAIM_SQL, params)
    except DatabaseError as error:
        state = getattr(error.__cause__, "sqlstate", None)
        if state == DEADLOCK:  # rolled back whole; record it on its own, then claim
            record_outcome(step.id, step.lease_token, outcome)
            return claim_next_step(worker_id)
        if state != LEASE_LOST:
            raise
    _record_late_write(step.id, step.lease_token, outcome)
    return claim_next_step(worker_id)


def renew_lease(step_id: int, token, lease_seconds: int | None = None) -> bool:
    """Extend a lease the caller still holds. False means the lease is gone: stop working."""
    lease = lease_seconds or settings.OPS_LEASE_SECONDS
    held = Step.objects.filter(pk=step_id).holding_lease(token)
    if not held.update(lease_expires_at=in_seconds(lease), updated_at=Now()):
        return False
    # A step long enough to need renewing shows on its worker's liveness row, which also
    # keeps the worker from looking dead while one step runs for minutes.
    Worker.objects.filter(pk__in=held.values("lease_owner")).update(
        current_step_id=step_id, last_seen_at=Now()
    )
    return True


def backoff_seconds(attempt_count: int) -> float:
    base = settings.OPS_RETRY_BASE_SECONDS
    return min(base * 2 ** max(attempt_count - 1, 0), settings.OPS_RETRY_MAX_SECONDS)


def record_outcome(step_id: int, token, outcome: Outcome) -> bool:
    """Apply an executor's outcome if the caller still holds the lease. A late writer — one
    whose lease expired and was taken by another worker — is refused, and the refusal is an
    event. Returns whether the outcome was applied."""
    if isinstance(outcome, Succeeded):
        return _complete(step_id, token, outcome)
    with transaction.atomic():
        step = Step.objects.select_for_update().filter(pk=step_id).holding_lease(token).first()
        if step is None:
            _record_late_write(step_id, token, outcome)
            return False
        attempt = StepAttempt.objects.get(step=step, lease_token=token)
        if isinstance(outcome, Blocked):
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


def _complete(step_id: int, token, outcome: Succeeded) -> bool:
    """Result, attempt, event, mission finalisation and effects commit together: one
    `opscore_complete_step` call (migrations 0005, 0019), plus outbox rows for any effects."""
    result = json.dumps(redact(outcome.result))
    # Without effects or artifacts the call is one statement: it commits alone, atomically.
    writes = outcome.effects or outcome.artifacts
    with transaction.atomic() if writes else contextlib.nullcontext():
        with connection.cursor() as cursor:
            cursor.execute("SELECT opscore_complete_step(%s, %s, %s)", [step_id, token, result])
            applied = cursor.fetchone()[0]
        if applied:
            Artifact.objects.bulk_create(
                Artifact(step_id=step_id, **vars(draft)) for draft in outcome.artifacts
            )
            for effect in outcome.effects:
                OutboxMessage.objects.get_or_create(
                    key=effect.key,
                    defaults={
                        "step_id": step_id,
                        "channel": effect.channel,
                        "payload": effect.payload,
                    },
                )
    if not applied:
        _record_late_write(step_id, token, outcome)
    return applied


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
    """After N consecutive failures of one kind (since the worker switches last changed), turn
    that kind's worker switch off and raise an alert.

    A failure is an attempt that failed, or one that lost its worker *again*: a worker lost
    once is as likely the machine's fault as the step's (a cluster killed mid-run loses every
    step it held), while a step that takes down its worker twice running is the kind's fault.
    A first loss neither counts nor breaks the run of failures."""
    threshold = settings.OPS_BREAKER_THRESHOLD
    switches = Policy.objects.filter(key="worker_switches").first()
    lost_before = StepAttempt.objects.filter(
        step=OuterRef("step"), attempt_no=OuterRef("attempt_no") - 1, outcome=AttemptOutcome.LOST
    )
    recent = (
        StepAttempt.objects.filter(step__kind=kind, finished_at__isnull=False)
        .alias(repeat_loss=Exists(lost_before))
        .exclude(outcome=AttemptOutcome.LOST, repeat_loss=False)
    )
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


def budget_available(step: Step) -> bool:
    from opscore.llm import OverBudget, check_budget

    try:
        check_budget(step.agent)
    except OverBudget:
        return False
    return True


# Blockers that can clear without a human: code → "has it cleared for this step?"
BLOCKER_CHECKS = {"no_executor": executor_installed, "llm_budget": budget_available}


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
