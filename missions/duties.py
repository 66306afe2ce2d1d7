"""Heartbeat duties of the execution lane, and the slots later lanes fill."""

from missions.execution import reap_expired_leases, requeue_cleared_blockers
from opscore.heartbeat import duty, reserve


@duty("recover_stale_steps", budget_seconds=5)
def recover_stale_steps(deadline: float) -> dict:
    return reap_expired_leases() | {"unblocked": requeue_cleared_blockers()}


@duty("recover_stale_conversations", budget_seconds=2)
def recover_stale_conversations(deadline: float) -> dict:
    from roundtable.actions import recover_stale_conversations as recover

    return recover()


@duty("standing_order_gap_check", budget_seconds=3)
def standing_order_gap_check(deadline: float) -> dict:
    from opscore.standing_orders import check_gaps, close_finished_missions

    return check_gaps() | {"closed": close_finished_missions()}


@duty("evaluate_triggers", budget_seconds=4, lane="triggers")
def evaluate_triggers(deadline: float) -> dict:
    from missions import loop

    return loop.evaluate_triggers(deadline)


@duty("process_reactions", budget_seconds=3, lane="reactions")
def process_reactions(deadline: float) -> dict:
    from missions import loop

    return loop.match_reactions() | loop.process_reactions(deadline)


reserve("promote_insights", 2, "memory lane")
reserve("learn_from_outcomes", 2, "memory lane")
