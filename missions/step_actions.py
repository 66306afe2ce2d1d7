"""What an operator does to missions and steps already running: cancel, retry, dead-letter.
Each is atomic and leaves its event."""

from django.db import transaction

from missions.actions import DecisionRefused
from missions.dependents import (
    cancel_dependents,
    cancel_dependents_of,
    revivable_dependents,
    revive_dependents,
)
from missions.gates import retry_refusal
from missions.models import STEP_TERMINAL, Mission, MissionStatus, Step, StepStatus
from opscore.actions import record_event


@transaction.atomic
def cancel_mission(mission: Mission, *, actor: str) -> int:
    """Cancel a mission and every step not yet finished. Returns the number of steps cancelled.

    A running step loses its lease here; its worker's late completion is refused by the token.
    """
    mission = Mission.objects.select_for_update().get(pk=mission.pk)
    if mission.is_terminal:
        raise DecisionRefused(f"M{mission.id} is already {mission.status}")
    open_steps = mission.steps.exclude(status__in=STEP_TERMINAL).select_for_update()
    ended = list(open_steps.only("id", "mission_id"))
    cancelled = open_steps.cancel(f"M{mission.id} cancelled by {actor}")
    mission.cancel()
    cancel_dependents_of(ended, StepStatus.CANCELLED)
    record_event(
        "mission.cancelled",
        f"Mission M{mission.id} cancelled",
        tags=["mission", "cancelled"],
        payload={"steps_cancelled": cancelled},
        agent=mission.agent,
        mission=mission,
        actor=actor,
    )
    return cancelled


RETRYABLE = [StepStatus.FAILED, StepStatus.DEAD, StepStatus.BLOCKED]


def retry_step(step: Step, *, actor: str) -> Step:
    """Put a failed, dead or blocked step back in the queue with one more attempt allowed,
    if today's quota for its kind has room. A refused retry is an event saying why, written
    after its transaction rolled back."""
    try:
        return _retry(step, actor=actor)
    except DecisionRefused as refused:
        record_event(
            "step.retry_refused",
            f"Retry of step S{step.id} ({step.kind}) by {actor} refused",
            summary=str(refused),
            tags=["step", "retry", "refused"],
            payload={"reason": str(refused)},
            agent_id=step.agent_id,
            mission_id=step.mission_id,
            step=step,
            actor=actor,
        )
        raise


@transaction.atomic
def _retry(step: Step, *, actor: str) -> Step:
    step = Step.objects.select_for_update().get(pk=step.pk)
    if step.status not in RETRYABLE:
        raise DecisionRefused(f"S{step.id} is {step.status}; only {RETRYABLE} can be retried")
    ended = [MissionStatus.CANCELLED, MissionStatus.TIMED_OUT]
    if Mission.objects.filter(pk=step.mission_id, status__in=ended).exists():
        raise DecisionRefused(f"S{step.id} belongs to a cancelled or timed-out mission")
    dependents = revivable_dependents(step)
    if full := retry_refusal(step, dependents):
        raise DecisionRefused(f"S{step.id} was not retried: {full}")
    previous = step.status
    step.retry()
    step.refresh_from_db()
    revived = revive_dependents(dependents)
    step.mission.reopen_if_failed()
    record_event(
        "step.retried",
        f"Step S{step.id} ({step.kind}) requeued by {actor}",
        tags=["step", "retried"],
        payload={"from_status": previous, "dependents_requeued": revived},
        agent=step.agent,
        mission_id=step.mission_id,
        step=step,
        actor=actor,
    )
    return step


@transaction.atomic
def dead_letter_step(step: Step, *, actor: str, reason: str) -> Step:
    step = Step.objects.select_for_update().get(pk=step.pk)
    if step.is_terminal:
        raise DecisionRefused(f"S{step.id} is already {step.status}")
    step.dead_letter(reason or f"dead-lettered by {actor}")
    step.refresh_from_db()
    cancel_dependents(step)  # they can never run: left queued, the mission never ended
    record_event(
        "step.dead_lettered",
        f"Step S{step.id} ({step.kind}) dead-lettered",
        summary=step.last_error,
        tags=["step", "dead"],
        agent=step.agent,
        mission_id=step.mission_id,
        step=step,
        actor=actor,
    )
    step.mission.finalize()
    return step
