"""The agent-bus verbs on standing-order runs (start-standing-order, finish-standing-order): a
runtime records the runs of its agent's own generic orders, for the slots Opscore owes, and how
each ended is its word. console.agentbus_verbs serves them with the job verbs."""

from datetime import UTC, timedelta

from console.agentbus_inputs import BadInput, Refused, iso_time, json_object
from opscore.db import db_now
from opscore.lanes import lane_of_handler
from opscore.models import StandingOrder, StandingOrderRun
from opscore.standing_orders import AGENTS_OWN, RunResult, finish_run, start_run


def start_standing_order(agent_id, order_name, scheduled_for, **o):
    order = StandingOrder.objects.filter(agent_id=agent_id, name=order_name).first()
    if order is None:
        raise BadInput(f"no standing order {order_name!r} for agent {agent_id!r}")
    slot = iso_time(scheduled_for, "scheduled_for")
    check_slot(order, slot)
    run = start_run(order, slot, evidence=BY_RUNTIME)
    if run is None:
        run = order.runs.get(scheduled_for=slot)
        return {"run_id": run.id, "status": run.status, "already_recorded": True}
    return {"run_id": run.id, "status": run.status}


def check_slot(order: StandingOrder, slot) -> None:
    """A run is recorded only for an enabled order's slot that its schedule asks for, from its
    first (after its creation) to one that has come: an off-schedule run, or one of a slot from
    before the order existed, would read as work done, and a slot taken before it comes is
    "already recorded" when it does, so Opscore's own firing of it runs nothing."""
    if not order.enabled:
        raise Refused(f"standing order {order} is disabled")
    refuse_upkeep(order)
    if slot > db_now():
        raise BadInput(
            f"{slot.astimezone(UTC):%Y-%m-%d %H:%M} UTC has not come yet", option="scheduled_for"
        )
    if slot not in order.expected_slots(slot - timedelta(seconds=1), slot):
        raise BadInput(
            f"{slot.isoformat()} is not a slot of {order.cron} ({order.timezone})",
            option="scheduled_for",
        )
    if slot < (first := order.first_slot()):  # Opscore's own firing owes none before it
        raise BadInput(
            f"{slot.astimezone(UTC):%Y-%m-%d %H:%M} UTC is before {order}'s first slot "
            f"({first.astimezone(UTC):%Y-%m-%d %H:%M} UTC, the first after it was created)",
            option="scheduled_for",
        )


def refuse_upkeep(order: StandingOrder) -> None:
    """Only the agent's own generic work (opscore.standing_orders.AGENTS_OWN: its model, or its
    runtime, answering as the agent) has runs a runtime may record. The house's upkeep
    (backups, the lease reaper, the gap check) and a lane's routines (memory promotion, the
    opportunity scan, the engagement poll) are Opscore's code, run and proved by Opscore,
    whichever agent owns them on paper: a runtime that took their slot would have Opscore's own
    firing find it recorded and run nothing."""
    if order.handler == AGENTS_OWN:
        return
    if lane := lane_of_handler(order.handler):
        raise Refused(
            f"standing order {order} is the {lane} lane's own routine (handler "
            f"{order.handler}): Opscore runs it, no runtime records its runs"
        )
    raise Refused(
        f"standing order {order} is Opscore's own upkeep (handler {order.handler}): "
        "Opscore runs it, no runtime records its runs"
    )


# Marks a run a runtime recorded (start-standing-order), kept through its finish: only such a
# run is a runtime's to finish. One Opscore's scheduler started (its model working as the
# agent) is Opscore's: closed from outside, its real outcome would be dropped unrecorded.
BY_RUNTIME = {"recorded_by": "runtime"}


def reported_by(agent: str) -> dict:
    """How a recorded run ended is its runtime's word, as its jobs' endings are."""
    return {"untrusted": f"reported by {agent}'s runtime through the agent bus"}


def finish_standing_order(run_id, status, summary, evidence, **o):
    run = StandingOrderRun.objects.filter(pk=run_id).select_related("order").first()
    if run is None:
        raise BadInput(f"no standing-order run {run_id}")
    refuse_upkeep(run.order)
    if run.evidence.get("recorded_by") != BY_RUNTIME["recorded_by"]:
        raise Refused(
            f"run {run_id} of {run.order} was started by Opscore, not recorded by a runtime: "
            "Opscore records how it ends"
        )
    proof = json_object(evidence, "evidence") | BY_RUNTIME | reported_by(run.order.agent_id)
    if not finish_run(run, RunResult(status, summary, proof)):
        raise Refused(f"run {run_id} is already {run.status}")
    return {"run_id": run.id, "status": run.status}
