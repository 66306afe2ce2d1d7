"""The switches over a running step, asked again once its model call is back: the claim asked
them before the step ran, but a call is out for seconds to minutes, and an operator who
disabled the agent or paused the lane meanwhile saw the reply applied anyway — its artifact
kept, its question asked, its mission moving on. A switch that says paused stops everything
it names, the reply on its way included."""

from django.db import connection
from django.db.models import Q

from missions.execution import LeaseLost, under_lease
from missions.executors import Failed, Held
from opscore.lanes import lane_of_kind, pause_of
from opscore.models import Agent, Policy
from opscore.switch_checks import agent_off

# The rows a switch over a step writes: its agent's (disabling it) and lane_switches (pausing
# a lane). Read FOR SHARE, they keep either switch waiting until the reader's transaction ends.
SHARE_AGENT = f"SELECT 1 FROM {Agent._meta.db_table} WHERE slug = %s FOR SHARE"
SHARE_LANES = f"SELECT 1 FROM {Policy._meta.db_table} WHERE key = 'lane_switches' FOR SHARE"


def switched_off(step) -> str:
    """Why the step may not go on now ('' while it may): its agent disabled, its lane paused."""
    if off := agent_off(step.agent_id):
        return off
    pause = pause_of(lane_of_kind(step.kind))
    return pause.why if pause is not None else ""


def held_at_write(step) -> str:
    """Asked inside the transaction that writes the step's result (Succeeded.unless_switched):
    the switch rows read FOR SHARE first, so a switch committed before is seen, and one thrown
    meanwhile waits for the result's commit; checked and written apart, a switch thrown between
    them was missed. The held reason, or '' to go on."""
    with connection.cursor() as cursor:
        cursor.execute(SHARE_AGENT, [step.agent_id])
        if lane_of_kind(step.kind):
            cursor.execute(SHARE_LANES)
    why = switched_off(step)
    return f"held: {why}; the reply was not applied" if why else ""


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


def held_by_a_switch() -> Q:
    """The steps a claim passes over while an operator's switch holds them: their mission
    paused, their agent disabled or drained, their kind switched off (breaker or operator) or
    their lane paused, as the claim SQL reads them (parts/step_may_run). Queued, they wait on
    purpose: aged with the rest, a pause paged as a stuck queue."""
    switches = Policy.objects.value("worker_switches").kinds
    held = [kind for kind, on in switches.items() if not on]
    held += Policy.objects.value("lane_switches").held_kinds
    paused = Q(mission__paused_at__isnull=False) | Q(kind__in=held)
    return paused | Q(agent__enabled=False) | Q(agent__draining=True)
