"""The heartbeat's duties, in the order they run. Cheap, deterministic, no LLM work.

Lease reaping and the standing-order gap check are proved by their standing orders
(`lease_reaper`, `gap_check`), whose every slot leaves a row; the heartbeat does the same work
only as a fallback, when no such order proved a run lately — before phase 1 is bootstrapped, or
with the order disabled.
"""

from datetime import timedelta

from django.db.models.functions import Now

from coding.duties import set_aside_review_trees
from memory.initiative import enqueue_initiatives
from memory.learning import drop_endings, learn_from_outcomes, promote_insights
from memory.uses import fold_memory_uses
from missions import duties as execution
from missions.goals import snapshot_goals
from missions.orders import close_finished_missions
from missions.runaways import detect_runaways
from opscore.heartbeat import Duty
from opscore.llm_records import prune_llm_records
from opscore.models import RunStatus, StandingOrderRun
from opscore.overrides import lift_expired_overrides
from opscore.standing_orders import check_gaps
from roundtable.lifecycle import recover_stale_conversations

PROOF_FRESH_FOR = timedelta(minutes=15)


def unless_proved_by(handler: str, work):
    """Run `work` only when no enabled order with this handler finished a run lately."""

    def duty(deadline: float) -> dict:
        proof = (
            StandingOrderRun.objects.filter(
                order__handler=handler,
                order__enabled=True,
                status__in=[RunStatus.COMPLETED, RunStatus.NO_WORK],
                finished_at__gte=Now() - PROOF_FRESH_FOR,
            )
            .select_related("order")
            .order_by("-finished_at")
            .first()
        )
        if proof is not None:
            return {"proved_by": f"{proof.order} run {proof.id}"}
        return work(deadline)

    return duty


def gap_check(deadline: float) -> dict:
    return check_gaps() | {"closed": close_finished_missions()}


def conversations(deadline: float) -> dict:
    return recover_stale_conversations()


DUTIES = [
    Duty("lift_expired_overrides", 2, lift_expired_overrides),
    Duty("recover_stale_steps", 5, unless_proved_by("lease_reaper", execution.recover_stale_steps)),
    Duty("recover_stale_conversations", 2, conversations),
    Duty("standing_order_gap_check", 3, unless_proved_by("gap_check", gap_check)),
    Duty("detect_runaways", 2, detect_runaways),
    Duty(
        "evaluate_triggers",
        4,
        execution.evaluate_triggers,
        lane="triggers",
        dropping=execution.drop_triggers,
    ),
    Duty(
        "process_reactions",
        3,
        execution.process_reactions,
        lane="reactions",
        dropping=execution.drop_reactions,
    ),
    # bookkeeping of calls already made, not memory work: it runs while the lane is paused
    Duty("count_memory_uses", 2, fold_memory_uses),
    Duty("promote_insights", 2, promote_insights, lane="memory"),
    Duty("learn_from_outcomes", 4, learn_from_outcomes, lane="memory", dropping=drop_endings),
    Duty("enqueue_initiatives", 2, enqueue_initiatives, lane="proactive"),
    Duty("snapshot_goals", 2, snapshot_goals),
    Duty("prune_llm_records", 2, prune_llm_records),
    Duty("set_aside_review_trees", 2, set_aside_review_trees, lane="coding", atomic=False),
]
