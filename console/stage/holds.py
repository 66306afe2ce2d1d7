"""What holds a mission's queued step from being claimed, in words a person acts on: a kind
whose breaker is open, a drained kind or agent. Without this, a held step reads "runs at 21:47"
long after 21:47 has passed."""

from dataclasses import dataclass

from missions.breaker import switched_off_kinds
from missions.models import StepStatus
from opscore.overrides import in_force


@dataclass(frozen=True)
class Hold:
    step_id: int
    what: str  # what holds it
    how: str  # what a person does about it
    command: str  # the command that does it


def holds_on(steps) -> dict[int, Hold]:
    """{step id: its hold}, for the queued steps of one mission."""
    queued = [s for s in steps if s.status == StepStatus.QUEUED]
    if not queued:
        return {}
    tripped = set(switched_off_kinds())
    found = {}
    for step in queued:
        hold = _hold_of(step, tripped)
        if hold:
            found[step.id] = hold
    return found


def _hold_of(step, tripped: set[str]) -> Hold | None:
    if step.kind in tripped and not in_force("drain", f"kind:{step.kind}"):
        return Hold(
            step.id,
            f"the {step.kind} breaker is open: workers stopped claiming {step.kind} after "
            "repeated failures",
            "fix the cause, then reset the breaker (or admin → Overrides → Apply an override):",
            f'.venv/bin/opscore override reset-breaker {step.kind} --reason "…"',
        )
    for target in (f"kind:{step.kind}", f"agent:{step.agent_id}"):
        drain = in_force("drain", target)
        if drain:
            return Hold(
                step.id,
                f"{target} is drained by {drain.actor}: {drain.reason}",
                "lift the drain once its reason is past:",
                f'.venv/bin/opscore override lift {drain.id} --reason "…"',
            )
    return None
