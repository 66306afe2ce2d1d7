"""What holds a mission's queued step from being claimed, in words a person acts on: a kind
whose breaker is open, a drained kind or agent, a disabled agent, a paused lane. Without this,
a held step reads "runs at 21:47" long after 21:47 has passed, or plain queued."""

from dataclasses import dataclass

from missions.breaker import switched_off_kinds
from missions.models import StepStatus
from opscore.lanes import lane_of_kind, pause_of
from opscore.overrides import in_force
from opscore.switch_checks import agent_off


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
    return _tripped_or_drained(step, tripped) or _switched_off(step)


def _lifted_by(override_id: int | None) -> tuple[str, str]:
    if override_id is None:
        return "it was switched off without an override: switch it back on in the admin", ""
    return "lift the override once its reason is past:", (
        f'.venv/bin/opscore override lift {override_id} --reason "…"'
    )


def _switched_off(step) -> Hold | None:
    """Its agent disabled or its lane paused: the claim skips it as surely as a drain."""
    if off := agent_off(step.agent_id):
        row = in_force("disable_agent", step.agent_id)
        return Hold(step.id, off, *_lifted_by(row.id if row else None))
    if pause := pause_of(lane_of_kind(step.kind)):
        return Hold(step.id, pause.why, *_lifted_by(pause.override_id))
    return None


def _tripped_or_drained(step, tripped: set[str]) -> Hold | None:
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
