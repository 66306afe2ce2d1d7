"""Durable execution: claim a step under a lease, record its outcome under the same lease,
reap leases whose worker vanished. Postgres rows are the truth; every write here is fenced by the
lease token, and every clock reading is the database's `statement_timestamp()` — the clock
Django's `Now()` reads (`now()` would stand still for a whole transaction)."""

import contextlib
import functools
import json

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models.functions import Now

from missions.breaker import count_failure
from missions.claimed_rows import STEP_COLUMNS, claim_cursor, step_from_array, step_from_row
from missions.dependents import cancel_dependents
from missions.executors import Blocked, Failed, Held, Interrupted, Outcome, Succeeded
from missions.late_writes import record_late_write
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
from missions.step_kinds import internal_markers
from opscore.actions import record_event
from opscore.db import execute_prepared
from opscore.redaction import redact, redact_text
from opscore.registry import STEP_KINDS

CLAIM_SQL = f"SELECT {STEP_COLUMNS} FROM opscore_claim_step(%s::text, %s::float8, %s::text[])"
CLAIM_FOR_SQL = (
    f"SELECT {STEP_COLUMNS} FROM "
    "opscore_claim_step_for_agent(%s::text, %s::float8, %s::text, %s::text[])"
)
COMPLETE_AND_CLAIM_SQL = (
    f"SELECT {STEP_COLUMNS} FROM opscore_complete_and_claim("
    "%s::bigint, %s::uuid, %s::jsonb, %s::text, %s::float8, %s::text[])"
)
# The same, outside any transaction: commits the success before it sends the wake-up hints, so
# the commits of concurrent workers are not queued behind NOTIFY's lock (finish_step.*.sql).
# The claimed step comes back as one JSON array of STEP_COLUMNS: NULL when there was none.
FINISH_SQL = (
    "CALL opscore_finish_step(%s::bigint, %s::uuid, %s::jsonb, %s::text, %s::float8, %s::text[])"
)
LEASE_LOST = "OPS01"
DEADLOCK = "40P01"


def claim_next_step(worker_id: str, *, lease_seconds: float | None = None, agent: str = ""):
    """Lease the most urgent ready step whose agent has room, or return None.

    One round trip to `opscore_claim_step` (missions/sql/claim_step.*.sql): ready means queued,
    due by the database clock, every dependency succeeded, its agent enabled and under its
    concurrency limit, and its kind not switched off. Rows are locked with FOR UPDATE SKIP
    LOCKED, so concurrent workers never wait on each other or take the same step.
    """
    lease = lease_seconds or settings.OPS_LEASE_SECONDS
    if agent:  # an external runtime that works for one agent (agentbus --target-agent)
        return _fetch_step(CLAIM_FOR_SQL, [worker_id, lease, agent, internal_kinds_array()])
    return _fetch_step(CLAIM_SQL, [worker_id, lease, internal_kinds_array()])


def internal_kinds_array() -> str:
    """`internal_markers()` as a Postgres array literal: the driver sends a string as it is,
    where a list costs it a type inspection and an element-by-element dump on every claim."""
    return _array_literal(tuple(internal_markers()))


@functools.cache
def _array_literal(items: tuple[str, ...]) -> str:
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return "{" + ",".join(f'"{item}"' for item in quoted) + "}"


def _fetch_step(sql: str, params: list, decode=step_from_row, db=None) -> Step | None:
    """Run a hot-path call as a prepared statement with server-side binding (Django turns
    psycopg's preparing off; execute_prepared turns it on for this call): once per
    connection the server parses and plans it, and the client never quotes values."""
    db = db or connections["default"]  # one look-up, not one per attribute through the proxy
    if db.connection is None:
        db.ensure_connection()
    with db.wrap_database_errors:
        cursor = claim_cursor(db)
        execute_prepared(cursor, sql, params)
        row = cursor.fetchone()
        return decode(row if decode is step_from_row else row[0], db)


def complete_and_claim_next(step: Step, outcome: Succeeded, worker_id: str) -> Step | None:
    """The fast path for a success without effects: record it and lease the worker's next step
    in one round trip. A lost lease is refused as in `record_outcome`, then we claim normally."""
    result = json.dumps(redact(outcome.result))
    params = [step.id, step.lease_token, result, worker_id, settings.OPS_LEASE_SECONDS]
    params.append(internal_kinds_array())
    # A caller's transaction (an atomic block) cannot be committed in the middle: there the
    # function does it all, hints included, in that transaction.
    db = connections["default"]
    try:
        if db.in_atomic_block:
            return _fetch_step(COMPLETE_AND_CLAIM_SQL, params, db=db)
        return _fetch_step(FINISH_SQL, params, decode=step_from_array, db=db)
    except DatabaseError as error:
        state = getattr(error.__cause__, "sqlstate", None)
        if state == DEADLOCK:  # rolled back whole; record it on its own, then claim
            record_outcome(step.id, step.lease_token, outcome)
            return claim_next_step(worker_id)
        if state != LEASE_LOST:
            raise
    record_late_write(step.id, step.lease_token, outcome)
    return claim_next_step(worker_id)


def renew_lease(step_id: int, token, lease_seconds: int | None = None, *, beat=True) -> bool:
    """Extend a lease the caller still holds. False means the lease is gone: stop working.
    `beat=False` for an outside runtime (the agent bus): its lease owner is a name it chose,
    and may be a worker's, whose liveness no renewal of it may keep up."""
    lease = lease_seconds or settings.OPS_LEASE_SECONDS
    held = Step.objects.filter(pk=step_id).holding_lease(token)
    if not held.update(lease_expires_at=in_seconds(lease), updated_at=Now()):
        return False
    if not beat:
        return True
    # A step long enough to need renewing shows on its worker's liveness row, which also
    # keeps the worker from looking dead while one step runs for minutes.
    Worker.objects.filter(pk__in=held.values("lease_owner")).update(
        current_step_id=step_id, last_seen_at=Now()
    )
    return True


class LeaseLost(Exception):
    """The step's lease is gone: what its executor was about to do must not happen."""


@contextlib.contextmanager
def under_lease(step_id: int, token):
    """A transaction in which the step is locked under the caller's lease, for an executor's
    own effect (a policy it sets, a ref it moves): it happens only while the lease holds, and
    no cancel, reap or deadline can take the lease until it has. A worker that lost the lease
    (the mission cancelled under it) would otherwise apply an effect the step's row says never
    happened. No `token`: a replay's run (missions.replay), which holds no lease and whose
    writes are all rolled back."""
    with transaction.atomic():
        held = Step.objects.select_for_update().filter(pk=step_id).holding_lease(token)
        if token is not None and held.first() is None:
            raise LeaseLost(f"S{step_id}: the lease was gone before its effect; nothing applied")
        yield


def backoff_seconds(attempt_count: int) -> float:
    base = settings.OPS_RETRY_BASE_SECONDS
    return min(base * 2 ** max(attempt_count - 1, 0), settings.OPS_RETRY_MAX_SECONDS)


def record_outcome(step_id: int, token, outcome: Outcome) -> bool:
    """Apply an executor's outcome if the caller still holds the lease. A late writer — one
    whose lease expired and was taken by another worker — is refused, and the refusal is an
    event. Returns whether the outcome was applied."""
    return not refusal_of(step_id, token, outcome)


def refusal_of(step_id: int, token, outcome: Outcome) -> str:
    """`record_outcome` for a caller that must say why a write was refused ('' when applied):
    the step.late_write_refused event's own line, never a guess made after it."""
    if isinstance(outcome, Succeeded):
        return _complete(step_id, token, outcome)
    with transaction.atomic():
        step = Step.objects.select_for_update().filter(pk=step_id).holding_lease(token).first()
        if step is None:
            return record_late_write(step_id, token, outcome)
        attempt = StepAttempt.objects.get(step=step, lease_token=token)
        if isinstance(outcome, Interrupted):
            release_step(step, outcome.reason, AttemptOutcome.INTERRUPTED)
        elif isinstance(outcome, Blocked):
            _block(step, attempt, outcome.reason, outcome.code, AttemptOutcome.BLOCKED)
        elif isinstance(outcome, Held):
            _hold(step, attempt, outcome.reason)
        else:
            _fail(step, attempt, outcome)
    return ""


def attempt_closed(step_id: int, token) -> bool:
    """Whether the attempt under this lease token has its outcome already (a commit whose
    answer a lost connection swallowed)."""
    attempt = StepAttempt.objects.filter(step_id=step_id, lease_token=token)
    return attempt.exclude(outcome=AttemptOutcome.RUNNING).exists()


def close_attempt(attempt: StepAttempt, outcome: str, error: str = "") -> None:
    attempt.outcome, attempt.error, attempt.finished_at = outcome, error, Now()
    attempt.save(update_fields=["outcome", "error", "finished_at"])


def step_event(step: Step, kind: str, title: str, **extra) -> None:
    record_event(
        kind,
        title,
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=extra.pop("actor", f"worker:{step.lease_owner}" if step.lease_owner else "system"),
        **extra,
    )


def _complete(step_id: int, token, outcome: Succeeded) -> str:
    """Result, attempt, event, mission finalisation and effects commit together: one
    `opscore_complete_step` call (missions/sql/complete_step.*.sql), plus outbox rows for any
    effects. '' when applied, else the refusal's line."""
    result = json.dumps(redact(outcome.result))
    # Without effects or artifacts the call is one statement: it commits alone, atomically.
    writes = outcome.effects or outcome.artifacts or outcome.unless_switched
    with transaction.atomic() if writes else contextlib.nullcontext():
        if outcome.unless_switched is not None and (held := outcome.unless_switched()):
            return refusal_of(step_id, token, Held(held))
        with connection.cursor() as cursor:
            cursor.execute("SELECT opscore_complete_step(%s, %s, %s)", [step_id, token, result])
            applied = cursor.fetchone()[0]
        if applied:
            _write_products(step_id, outcome)
    return "" if applied else record_late_write(step_id, token, outcome)


def _write_products(step_id: int, outcome: Succeeded) -> None:
    Artifact.objects.bulk_create(
        Artifact(step_id=step_id, **vars(draft)) for draft in outcome.artifacts
    )
    for effect in outcome.effects:
        OutboxMessage.objects.get_or_create(
            key=effect.key,
            defaults={"step_id": step_id, "channel": effect.channel, "payload": effect.payload},
        )


def storable(text: str) -> str:
    """A reason as it may be kept: redacted, and without NUL, which Postgres text cannot hold
    (a reason echoing what a server sent): refused, it would end the worker recording it."""
    return redact_text(text).replace("\x00", "\\x00")


def _block(step: Step, attempt: StepAttempt, reason: str, code: str, attempt_outcome: str):
    worker = step.lease_owner
    reason = storable(reason)
    step.block(reason, code)
    close_attempt(attempt, attempt_outcome, reason)
    step_event(
        step,
        "step.blocked",
        f"S{step.id} {step.kind} blocked",
        summary=step.blocked_reason,
        tags=["step", "blocked", code],
        actor=f"worker:{worker}",
    )


def _hold(step: Step, attempt: StepAttempt, reason: str) -> None:
    worker, reason = step.lease_owner, storable(reason)
    close_attempt(attempt, AttemptOutcome.HELD, reason)
    step.hand_back(reason)
    step_event(
        step,
        "step.held",
        f"S{step.id} {step.kind} held: a switch was thrown while it ran",
        summary=reason,
        tags=["step", "held", step.kind],
        actor=f"worker:{worker}",
    )


def _fail(step: Step, attempt: StepAttempt, outcome: Failed) -> None:
    error = storable(outcome.error)[:4000]
    ended = AttemptOutcome.FAILED
    if outcome.input_refused:
        ended = AttemptOutcome.REFUSED
    elif outcome.bad_reply:
        ended = AttemptOutcome.BAD_REPLY
    elif outcome.contended:
        ended = AttemptOutcome.CONTENDED
    close_attempt(attempt, ended, error)
    retryable = ended in (AttemptOutcome.FAILED, AttemptOutcome.CONTENDED)
    settle_failure(step, error, retryable=outcome.retryable and retryable)
    if outcome.counts_toward_breaker:
        count_failure(step)


def settle_failure(step: Step, error: str, *, retryable: bool, at_once: bool = False) -> None:
    """Retry with backoff (or `at_once`) while attempts remain; otherwise failed (not
    retryable) or dead."""
    worker = step.lease_owner
    if retryable and step.attempt_count < step.max_attempts:
        delay = 0 if at_once else backoff_seconds(step.attempt_count)
        step.requeue(delay, error=error)
        kind, title = "step.retrying", f"S{step.id} {step.kind} will retry in {delay:.0f}s"
    else:
        final = StepStatus.DEAD if retryable else StepStatus.FAILED
        step.finish(final, error)
        kind, title = f"step.{final}", f"S{step.id} {step.kind} {final}"
        cancel_dependents(step)
    step_event(
        step,
        kind,
        title,
        summary=error,
        tags=["step", kind.split(".")[1], step.kind],
        payload={"attempt": step.attempt_count, "max_attempts": step.max_attempts},
        actor=f"worker:{worker}" if worker else "system:reaper",
    )
    if step.status != StepStatus.QUEUED:
        step.mission.finalize()


def release_step(
    step: Step, error: str, outcome: str = AttemptOutcome.LOST, *, ran: bool = True
) -> str:
    """Close the step's open attempt as `lost` or `interrupted` and let go of its lease:
    non-idempotent kinds wait for a human (the effect may have happened) unless the attempt
    is known never to have `ran`; an interrupted step goes back at once without spending an
    attempt; a lost one retries (a first loss at once: as likely the machine's fault as the
    step's) or dies after max_attempts."""
    attempt = StepAttempt.objects.filter(step=step, lease_token=step.lease_token).first()
    if attempt:
        close_attempt(attempt, outcome, error)
    kind = STEP_KINDS.get(step.kind)
    if ran and kind is not None and not kind.idempotent:
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
    if outcome == AttemptOutcome.INTERRUPTED:
        step.hand_back(error)
        step_event(
            step,
            "step.interrupted",
            f"S{step.id} {step.kind} requeued",
            summary=error,
            tags=["step", "interrupted", step.kind],
            actor="system:shutdown",
        )
        return "requeued"
    settle_failure(step, error, retryable=True, at_once=first_loss(step))
    count_failure(step)
    return "requeued" if step.status == StepStatus.QUEUED else "dead"


def first_loss(step: Step) -> bool:
    lost = step.attempts.filter(outcome=AttemptOutcome.LOST).count()
    return lost <= 1
