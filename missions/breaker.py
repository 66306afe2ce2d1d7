"""The circuit breaker: a step kind that keeps failing is switched off for every worker.

Only Opscore's own workers feed it. An outside runtime's failures say something about that
runtime, not about the kind: they count toward its agent's health instead, so a broken outside
runtime can never switch a kind off for Opscore's workers."""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from missions.models import AttemptOutcome, StepAttempt
from missions.step_kinds import runs_inside
from opscore.actions import record_event, set_policy
from opscore.models import Agent, Policy, Runtime
from opscore.policies import PolicyError
from opscore.registry import STEP_KINDS

log = logging.getLogger(__name__)
# Attempts that say nothing about the kind (nor the runtime): they neither count toward a
# breaker nor break a run of failures.
NOT_THE_KINDS_DOING = [AttemptOutcome.REFUSED, AttemptOutcome.BAD_REPLY, AttemptOutcome.CONTENDED]
NOT_THE_KINDS_DOING += [AttemptOutcome.CANCELLED]  # a person or a deadline took the step away


def switched_off_kinds() -> list[str]:
    """Known kinds only: a switch for a kind no code runs is reported with the unknown names."""
    switches = Policy.objects.value("worker_switches")
    return sorted(kind for kind, on in switches.kinds.items() if not on and kind in STEP_KINDS)


def recent_outcomes(kind: str, since, threshold: int) -> list[str]:
    """The last outcomes of `kind` that count toward the breaker.

    A failure is an attempt that failed because of the executor, or one that lost its worker
    *again*: a worker lost once is as likely the machine's fault as the step's (a cluster killed
    mid-run loses every step it held), while a step that takes down its worker twice running
    is the kind's fault. A first loss, a guard refusing the step's input, a model's unusable
    reply (the model's doing, not the kind's) and a deadlock's victim neither count nor break
    the run of failures."""
    lost_before = StepAttempt.objects.filter(
        step=OuterRef("step"), attempt_no=OuterRef("attempt_no") - 1, outcome=AttemptOutcome.LOST
    )
    recent = (
        StepAttempt.objects.filter(
            step__kind=kind, step__agent__runtime=Runtime.INTERNAL, finished_at__isnull=False
        )
        .exclude(outcome__in=NOT_THE_KINDS_DOING)
        .alias(repeat_loss=Exists(lost_before))
        .exclude(outcome=AttemptOutcome.LOST, repeat_loss=False)
    )
    if since is not None:
        recent = recent.filter(finished_at__gte=since)
    return list(
        recent.order_by("-finished_at", "-id").values_list("outcome", flat=True)[:threshold]
    )


def count_failure(step) -> bool:
    """Charge a failed attempt to whoever ran it: the kind's breaker for Opscore's workers, the
    agent's own health for an outside runtime (coding-lane kinds always run here)."""
    runtime = Agent.objects.filter(pk=step.agent_id).values_list("runtime", flat=True).first()
    if runtime == Runtime.EXTERNAL and not runs_inside(step.kind, step.payload):
        return flag_failing_runtime(step.agent_id)
    return trip_breaker_if_needed(step.kind)


def flag_failing_runtime(agent: str) -> bool:
    """The outside runtime's breaker: when its agent's last N attempts all failed, raise one
    alert (at the Nth) on that agent. Nothing is switched off for anyone else."""
    threshold = settings.OPS_BREAKER_THRESHOLD
    outcomes = list(
        StepAttempt.objects.filter(step__agent_id=agent, finished_at__isnull=False)
        .exclude(outcome__in=NOT_THE_KINDS_DOING)
        .order_by("-finished_at", "-id")
        .values_list("outcome", flat=True)[: threshold + 1]
    )
    failing = {AttemptOutcome.FAILED, AttemptOutcome.LOST, AttemptOutcome.TIMED_OUT}
    streak = next((n for n, o in enumerate(outcomes) if o not in failing), len(outcomes))
    if streak != threshold:
        return False
    record_event(
        "agent.runtime_failing",
        f"Outside runtime of {agent}: {threshold} failures in a row",
        summary="Opscore's own workers are unaffected; check the runtime working for this agent.",
        tags=["alert", "runtime", agent],
        payload={"agent": agent, "threshold": threshold},
        agent_id=agent,
        actor="system:breaker",
    )
    return True


def trip_breaker_if_needed(kind: str) -> bool:
    """After N consecutive failures of one kind (since the worker switches last changed), turn
    that kind's worker switch off and raise an alert."""
    threshold = settings.OPS_BREAKER_THRESHOLD
    switches = Policy.objects.filter(key="worker_switches").first()
    outcomes = recent_outcomes(kind, switches.updated_at if switches else None, threshold)
    failing = {AttemptOutcome.FAILED, AttemptOutcome.LOST, AttemptOutcome.TIMED_OUT}
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
        summary=f"When fixed: .venv/bin/opscore override reset-breaker {kind} --reason … "
        "(or admin → Overrides → Apply an override).",
        tags=["alert", "breaker", kind],
        payload={"kind": kind, "threshold": threshold},
        actor="system:breaker",
    )
    return True
