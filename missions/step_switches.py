"""The switches over a running step, asked again once its model call is back: the claim asked
them before the step ran, but a call is out for seconds to minutes, and an operator who
disabled the agent or paused the lane meanwhile saw the reply applied anyway — its artifact
kept, its question asked, its mission moving on. A switch that says paused stops everything
it names, the reply on its way included."""

from missions.execution import LeaseLost, under_lease
from missions.executors import Failed, Held
from opscore.lanes import lane_of_kind, pause_of
from opscore.switch_checks import agent_off


def switched_off(step) -> str:
    """Why the step may not go on now ('' while it may): its agent disabled, its lane paused."""
    if off := agent_off(step.agent_id):
        return off
    pause = pause_of(lane_of_kind(step.kind))
    return pause.why if pause is not None else ""


def held_after_call(run) -> Held | Failed | None:
    """Asked under the step's lease, after the reply and before anything of it is applied: the
    step held with the switch's reason (the call's row stays: it was billed), or None to go
    on. A lease already gone: nothing applied, as in any late write. A replay (no lease token)
    applies nothing either way, and shows what the reply made, not what today's switches say."""
    step = run.step
    if run.token is None:
        return None
    try:
        with under_lease(step.id, run.token):
            why = switched_off(step)
    except LeaseLost as lost:
        return Failed(str(lost), retryable=False)
    return Held(f"held: {why}; the reply was not applied") if why else None
