"""A write under a lease that no longer holds is refused (execution's fencing) and recorded as
a `step.late_write_refused` event that says what happened: a second answer from an attempt
that already ended, a late one from a lost lease, or one under a lease another holder took."""

from missions.executors import Blocked, Failed, Held, Interrupted, Outcome, Succeeded
from missions.models import AttemptOutcome, Step, StepAttempt, StepStatus
from opscore.actions import record_event


def record_late_write(step_id: int, token, outcome: Outcome) -> str:
    """The refusal as a row, told from the lease's own attempt and the step as they are now;
    returns its one line, for a caller outside (the agent bus) to hear what the row says."""
    step = Step.objects.filter(pk=step_id).first()
    attempt = StepAttempt.objects.filter(step_id=step_id, lease_token=token).first()
    why = why_late(step_id, step, attempt, LATE_WRITES[type(outcome)])
    record_event(
        "step.late_write_refused",
        why,
        summary=f"{attempt_said(attempt)}; the step is now {step.status if step else '?'}",
        tags=["step", "fencing", "refused"],
        payload={"attempt": attempt.attempt_no if attempt else None},
        agent_id=step.agent_id if step else None,
        mission_id=step.mission_id if step else None,
        step=step,
        actor=f"worker:{attempt.worker_id}" if attempt else "worker:unknown",
    )
    return why


def attempt_said(attempt: StepAttempt | None) -> str:
    if attempt is None:
        return "attempt ? by ?"
    said = f"attempt {attempt.attempt_no} by {attempt.worker_id}"
    return said if attempt.outcome == AttemptOutcome.RUNNING else f"{said} ended {attempt.outcome}"


LATE_WRITES = {
    Succeeded: "completion",
    Failed: "failure",
    Blocked: "block",
    Interrupted: "hand-back",
    Held: "hold",
}
# Attempts their own holder ended: anything it sends after is a second answer, not a late one.
REPORTED = [AttemptOutcome.SUCCEEDED, AttemptOutcome.FAILED, AttemptOutcome.BLOCKED]
REPORTED += [AttemptOutcome.REFUSED, AttemptOutcome.BAD_REPLY]
# Attempts still open, or closed by someone who took the step from its holder (cancelled).
TAKEN_AWAY = [AttemptOutcome.RUNNING, AttemptOutcome.CANCELLED]


def why_late(step_id: int, step: Step | None, attempt: StepAttempt | None, write: str) -> str:
    """A refusal must not blame a lost lease when the lease's own attempt had already ended
    (a runtime calling complete-job twice): operators read "lost lease" as a worker dying."""
    if step is None or attempt is None:
        return f"S{step_id}: a {write} under a lease token S{step_id} never issued was refused"
    if attempt.outcome in REPORTED and attempt.outcome == step.status:
        return f"S{step_id} already {step.status}: a second {write} was refused"
    if attempt.outcome in REPORTED:
        return (
            f"S{step_id}: attempt {attempt.attempt_no} already ended {attempt.outcome}: a "
            f"second {write} was refused"
        )
    if attempt.outcome not in TAKEN_AWAY:  # lost, timed out, interrupted
        return f"S{step_id}: a late {write} from a lost lease was refused"
    if step.status == StepStatus.RUNNING and attempt.outcome == AttemptOutcome.RUNNING:
        return f"S{step_id}: a late {write} from a lease another holder took was refused"
    return (
        f"S{step_id} was {step.status} while attempt {attempt.attempt_no} held its lease: its "
        f"late {write} was refused"
    )
