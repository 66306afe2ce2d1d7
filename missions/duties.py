"""Heartbeat duties of the execution lane, and the slots later lanes fill."""

from missions.execution import reap_expired_leases, requeue_cleared_blockers
from opscore.heartbeat import duty, reserve


@duty("recover_stale_steps", budget_seconds=5)
def recover_stale_steps(deadline: float) -> dict:
    return reap_expired_leases() | {"unblocked": requeue_cleared_blockers()}


reserve("recover_stale_conversations", 2, "roundtable lane (issue 6)")


@duty("standing_order_gap_check", budget_seconds=3)
def standing_order_gap_check(deadline: float) -> dict:
    from opscore.standing_orders import check_gaps, close_finished_missions

    return check_gaps() | {"closed": close_finished_missions()}


reserve("evaluate_triggers", 4, "trigger rules (issue 5)")
reserve("process_reactions", 3, "reaction matrix (issue 5)")
reserve("promote_insights", 2, "memory lane")
reserve("learn_from_outcomes", 2, "memory lane")
